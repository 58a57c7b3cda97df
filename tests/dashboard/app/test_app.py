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
