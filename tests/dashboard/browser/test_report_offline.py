"""A verify report in Chromium with the network cut off: the chart that
``report.save_chart("x.html")`` writes draws (Vega inlined), its failing row ringed in
red, and the notebook's HTML table shows its coloured statuses and folded evidence."""

from __future__ import annotations

import pytest
import torch
from playwright.sync_api import expect

pytest.register_assert_rewrite("browser_helpers")  # it is also loaded as a plugin, below
from browser_helpers import new_page  # noqa: E402

import gradlab  # noqa: E402
from gradlab.verification.report import STATUS_COLORS  # noqa: E402

pytest_plugins = ["browser_helpers"]
pytestmark = pytest.mark.browser


class Half(torch.autograd.Function):
    """y = x², its backward x ∂y: half the right gradient."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return x * dy


def half_x(x, w):
    return Half.apply(x) + w


def reference(x, w):
    return x * x + w


@pytest.fixture(scope="module")
def report():
    """x fails, w passes, in float32 and bfloat16."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return gradlab.verify(half_x, reference, {"x": (4, 8), "w": (8,)},
                              dtypes=("float32", "bfloat16"))
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def offline(browser):
    """A page that may load file:// URLs only; ``page.asked`` lists every other request
    (each aborted)."""
    page = new_page(browser)
    page.asked = []

    def route(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            page.asked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    yield page
    page.context.close()


def test_the_saved_html_chart_renders_offline(report, offline, tmp_path):
    path = report.save_chart(tmp_path / "report.html")
    offline.goto(path.as_uri())
    marks = offline.locator("svg.marks g.mark-symbol.role-mark path")
    expect(marks.first).to_be_visible()  # polls: no sleep
    assert marks.count() >= 8, "candidate and autograd per dtype, input and check"
    ring = offline.locator(f'svg.marks g.role-mark path[stroke="{STATUS_COLORS["fail"]}"]')
    expect(ring.first).to_be_visible()
    assert ring.count() == 2 * 3, "∂x fails in two dtypes, ringed in each of three checks"
    texts = offline.locator("svg.marks text").all_text_contents()
    assert "along the truth: |⟨G − T, T⟩| / ‖T‖²" in texts
    assert offline.locator(".vega-embed .error, .error").count() == 0
    assert offline.asked == [], "nothing fetched from the network"


def test_the_notebook_html_table_renders_offline(report, offline):
    offline.set_content(report._repr_html_())
    rows = offline.locator("tbody tr")
    expect(rows).to_have_count(4)
    assert [rows.nth(i).get_attribute("data-status") for i in range(4)] == [
        "fail", "fail", "pass", "pass"]
    badge = rows.first.locator("span").first
    assert badge.inner_text() == "fail"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(207, 34, 46)"
    details = rows.first.locator("details")
    assert details.get_attribute("open") is None, "the evidence folded"
    details.locator("summary").click()
    expect(details.locator("div")).to_contain_text("worst entry")
    assert offline.asked == []
