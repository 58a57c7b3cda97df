"""The dashboard's navigation: every page of dashboard/pages.py (PAGES) under one
``st.navigation``. The checkout's ``app.py`` and the installed package's
``dashboard/serve/app.py`` both run ``main`` on every rerun.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import preload
from dashboard.pages import PAGES

__all__ = ["fetch_renderer", "main", "RENDERER_WARMUP"]

#: The key of a hidden chart that a server of ``python -m dashboard`` shows while a
#: session's first run waits for the preload (``fetch_renderer``).
RENDERER_WARMUP = "gradlab-renderer-warmup"
#: The hidden chart's container, and the wrapper that would keep its place in the
#: page's column (the column's gap above it).
_HIDDEN = (f".st-key-{RENDERER_WARMUP}, "
           f'[data-testid="stLayoutWrapper"]:has(> .st-key-{RENDERER_WARMUP})')
#: A chart with nothing in it, one pixel square and unframed: invisible even before
#: the style that hides it has arrived.
_EMPTY_CHART = {"mark": "point", "data": {"values": []}, "width": 1, "height": 1,
                "padding": 0, "config": {"view": {"stroke": None}}}


def main() -> None:
    """Configure the page and run the one the URL names (the first is the home page).
    A page whose file is missing is left out rather than breaking every page.
    A server started by ``python -m dashboard`` first waits for its preload."""
    slot = fetch_renderer()
    preload.wait()
    if slot is not None:  # before the page: after its st.stop() nothing more is sent
        slot.empty()
    st.set_page_config(page_title="gradlab: bug or rounding?",
                       page_icon=":material/functions:", layout="wide")
    pages = [st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path,
                     default=(i == 0))
             for i, page in enumerate(PAGES) if page.path.exists()]
    st.navigation(pages).run()


def fetch_renderer() -> DeltaGenerator | None:
    """In a server of ``python -m dashboard`` (``preload.started``), a placeholder at the
    top of every run, which holds a hidden empty chart during a session's first run
    until the preload is done (None elsewhere: AppTest, a plain ``streamlit run``).

    Streamlit's browser code loads its chart renderer (vega-embed and Vega, scripts
    of their own) only when a page first shows a chart, and that chart waits while
    they are fetched and compiled: on the Explorer, after the script had built its
    tables. Shown here, while the server imports, the hidden chart has the browser
    start on that meanwhile (docs/benchmarks.md, "Responsiveness"); ``main`` empties
    the placeholder before the page runs. The placeholder comes in every run, so that
    the page's elements keep their places from the first run to the next."""
    if not preload.started():
        return None
    slot = st.empty()
    if not st.session_state.get(RENDERER_WARMUP):
        st.session_state[RENDERER_WARMUP] = True
        box = slot.container(key=RENDERER_WARMUP)
        # the style inside what it hides: it arrives with it (st.html sends a style
        # alone apart from the page, and it may come after the chart)
        box.markdown(f"<style>{_HIDDEN} {{display: none}}</style>", unsafe_allow_html=True)
        box.vega_lite_chart(_EMPTY_CHART, width="content")
    return slot
