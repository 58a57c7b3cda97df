"""The Verify page in a real browser at desktop widths: it opens passing, a planted
mistake chosen in the sidebar fails, the URL follows, nothing is cut off; the
screenshot docs/screenshots/verify.png is of the failing view."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("browser_helpers")  # it is also loaded as a plugin, below
from browser_helpers import (  # noqa: E402
    CLIPPED,
    LAYOUT,
    TABLES,
    WIDTHS,
    assert_charts_fit,
    assert_tables_fit,
    exceptions,
    new_page,
    open_page,
    settle,
    shoot,
    sidebar_open,
)

pytest_plugins = ["browser_helpers"]
pytestmark = pytest.mark.browser


def verdict(page):
    return page.locator('[data-testid="stAlert"]').filter(has_text="Verdict:").first


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar's selectbox labelled ``label``."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


@pytest.mark.parametrize("width", WIDTHS)
def test_verify_page_fails_a_planted_mistake_at_desktop_widths(app, browser, width):
    page = new_page(browser, width=width, height=1000)
    open_page(page, app, "verify")
    assert exceptions(page) == [] and sidebar_open(page)
    assert page.locator("h1").first.inner_text().strip() == "Verify"
    assert "Verdict: passed" in verdict(page).inner_text()
    choose(page, "candidate", "no-mean (mistake)")
    expect(verdict(page)).to_contain_text("Verdict: NOT passed")  # polls: no sleep
    settle(page)
    assert exceptions(page) == []
    assert "fail" in verdict(page).inner_text()
    assert parse_qs(urlsplit(page.url).query) == {"candidate": ["no-mean"]}
    charts = page.evaluate(LAYOUT)
    assert len(charts) == 4, "verdict chart, two |Δ| maps, the size chart"
    assert_charts_fit(charts)
    for chart in charts[1:3]:  # the |Δ| maps: 16 × 1024 pooled to 16 × 32 cells
        assert chart["cells"] == 16 * 32, chart
        assert chart["cellWidth"] >= 3 and chart["cellHeight"] >= 3, chart
    assert charts[0]["points"] > 0 and charts[3]["points"] > 0
    assert "fail" in charts[3]["texts"], "the size chart's legend names the verdict"
    assert page.evaluate(CLIPPED) == []
    if width == max(WIDTHS):
        shoot(page, "verify")
    page.context.close()


def verdict_rows(page) -> list[dict[str, str]]:
    """The verdict table's rows as Chromium draws them: header → the cell's text."""
    (table,) = [t for t in page.evaluate(TABLES) if t["name"] == "verdicts"]
    header, *rows = table["rows"]
    return [dict(zip(header, row)) for row in rows]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_verdict_table_shows_every_number_whole_after_a_candidate_switch(app, browser,
                                                                             width):
    """Issue 20, items 1 and 8: after choosing ``transposed`` the canvas table kept its
    columns' first widths ("03e+07", "too-coar"), and at 1024 px its threshold columns
    sat off-screen. Each check's error now stands over its threshold, in a table the
    browser lays out to the column."""
    page = new_page(browser, width=width, height=1000)
    open_page(page, app, "verify", "problem=seed")
    assert_tables_fit(page.evaluate(TABLES))
    assert {row["status"] for row in verdict_rows(page)} == {"pass"}
    choose(page, "candidate", "transposed (mistake)")
    expect(verdict(page)).to_contain_text("Verdict: NOT passed")
    settle(page)
    tables = page.evaluate(TABLES)
    assert_tables_fit(tables)
    failing = [row for row in verdict_rows(page) if row["status"] == "fail"]
    assert {row["input"].split("\n")[0] for row in failing} == {"W"}
    for row in failing:
        err, bound = row["err/u"].split("\n")
        assert re.fullmatch(r"\d(\.\d+)?e\+0\d|\d+(\.\d+)?", err), err
        assert bound.startswith("> ") and float(err) > float(bound[2:]), row
    page.context.close()


def test_a_shared_verify_url_restores_its_widgets(app, page):
    open_page(page, app, "verify", "problem=gelu&candidate=tanh-arg&size=64&dtypes=float16")
    assert exceptions(page) == []
    assert page.get_by_role("textbox", name="size (width)", exact=True).input_value() == "64"
    assert "Verdict: NOT passed" in verdict(page).inner_text()
    assert urlsplit(page.url).query == "problem=gelu&candidate=tanh-arg&size=64&dtypes=float16"
