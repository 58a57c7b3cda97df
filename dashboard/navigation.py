"""The dashboard's navigation: every page of dashboard/pages.py (PAGES) under one
``st.navigation``. The checkout's ``app.py`` and the installed package's
``dashboard/serve/app.py`` both run ``main`` on every rerun.
"""

from __future__ import annotations

import streamlit as st

from dashboard import preload
from dashboard.pages import PAGES

__all__ = ["main"]


def main() -> None:
    """Configure the page and run the one the URL names (the first is the home page).
    A page whose file is missing is left out rather than breaking every page.
    A server started by ``python -m dashboard`` first waits for its preload."""
    preload.wait()
    st.set_page_config(page_title="gradlab: bug or rounding?",
                       page_icon=":material/functions:", layout="wide")
    pages = [st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path,
                     default=(i == 0))
             for i, page in enumerate(PAGES) if page.path.exists()]
    st.navigation(pages).run()
