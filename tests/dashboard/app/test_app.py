"""AppTest of the app shell (app.py): its navigation, built from dashboard/pages.py's
PAGES, opens on the home page and reaches every listed page."""

from __future__ import annotations

import pytest
from apptest_helpers import ROOT, app, assert_clean

from dashboard.pages import HOME, PAGES


def test_app_opens_on_the_home_page():
    at = app().run()
    assert_clean(at)
    assert at.title[0].value == HOME.title


@pytest.mark.parametrize("entry", PAGES, ids=[p.url_path for p in PAGES])
def test_app_switches_to_every_page(entry):
    """Every page of PAGES (tests/dashboard/test_pages.py checks that this
    parametrization is the whole list) runs clean from the navigation."""
    at = app().run()
    at.switch_page(entry.path.relative_to(ROOT).as_posix()).run()
    assert_clean(at)
    assert at.title[0].value == entry.title


@pytest.mark.parametrize("entry", PAGES, ids=[p.url_path for p in PAGES])
def test_an_unknown_url_parameter_is_said_not_dropped(entry):
    """A mistyped parameter (``dtype`` for ``dtypes``, ``bogus``) gets a warning naming
    it on every page (issue 20, item 10); the page still runs."""
    from apptest_helpers import page

    at = page(entry.name)
    at.query_params["bogus"] = "1"
    at.run(timeout=120)
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "bogus: not a parameter of this page" in warned, warned


def launched(monkeypatch) -> None:
    """This process as ``python -m dashboard`` leaves it: the preload started (and done)."""
    import threading

    from dashboard import preload

    done = threading.Thread(target=lambda: None)
    done.start()
    done.join()
    monkeypatch.setattr(preload, "_thread", done)


def renderer_script():
    """A page that takes the renderer's warm-up, as navigation.main does, then stops."""
    import streamlit as st

    from dashboard.navigation import fetch_renderer

    fetch_renderer()
    st.markdown("page")


def test_a_launched_servers_first_run_fetches_the_chart_renderer_then_not_again(monkeypatch):
    """In a server of ``python -m dashboard`` (the preload started), a session's first run
    holds a hidden empty chart in a placeholder at the top; later runs hold the empty
    placeholder, so every element keeps its place. AppTest and a plain streamlit run
    (no preload) get nothing: their first chart is the page's own."""
    import json

    from streamlit.testing.v1 import AppTest

    from dashboard.navigation import RENDERER_WARMUP

    at = AppTest.from_function(renderer_script, default_timeout=30).run()
    assert not at.get("vega_lite_chart") and [m.value for m in at.markdown] == ["page"]
    launched(monkeypatch)
    at = AppTest.from_function(renderer_script, default_timeout=30).run()
    assert_clean(at)
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["mark"] == "point" and not any(d.data for d in chart.proto.datasets), spec
    style = f"<style>.st-key-{RENDERER_WARMUP}, "
    assert any(m.value.startswith(style) and m.value.endswith("{display: none}</style>")
               for m in at.markdown), [m.value for m in at.markdown]
    assert at.session_state[RENDERER_WARMUP] is True
    assert at.main.children[1].value == "page"
    at.run()
    assert [m.value for m in at.markdown] == ["page"]
    assert not at.get("vega_lite_chart") and len(at.main.children) == 2
    assert at.main.children[1].value == "page", "the page's elements kept their places"


def test_the_app_ends_a_launched_servers_first_run_without_the_warm_up_chart(monkeypatch):
    plain = app().run()
    launched(monkeypatch)
    first = app().run()
    assert_clean(first)
    assert len(first.get("vega_lite_chart")) == len(plain.get("vega_lite_chart")) > 0
    assert first.title[0].value == plain.title[0].value
