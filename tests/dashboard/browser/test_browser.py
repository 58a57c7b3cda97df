"""The dashboard in a real browser: every page loads, a sweep runs and downloads, a shared
URL restores its widgets, Compare overlays uploads; screenshots go to docs/screenshots/."""

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
    healthy,
    new_page,
    open_page,
    settle,
    shoot,
    sidebar_open,
    start_server,
    stop_server,
)

from dashboard.ops import OpsView, load_ops, op_cells, select  # noqa: E402
from dashboard.pages import HOME, PAGES  # noqa: E402
from gradlab.core.dtypes import DTYPE_NAMES  # noqa: E402
from gradlab.sweep.export import read_csv_bytes, to_csv_bytes  # noqa: E402
from gradlab.sweep.grid import Sweep  # noqa: E402
from gradlab.sweep.runner import run_sweep  # noqa: E402

#: The fixtures (server, app, browser, page, tall_page) live in a helper module, not a
#: conftest.py, which would shadow tests/conftest.py (both import as "conftest").
pytest_plugins = ["browser_helpers"]
pytestmark = pytest.mark.browser

#: Pages whose default view is worth a screenshot as it is (Sweep and Compare are shot
#: with results, by their own tests).
SHOT_AS_OPENED = ("explorer", "precision", "epsilon")


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def textbox(page, label: str):
    return page.get_by_role("textbox", name=label, exact=True)


def tags(page, label: str) -> list[str]:
    """The chosen values of the multiselect labelled ``label``."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label))
    return box.first.locator('.react-aria-ComboBox [data-tag] > span[title]').all_inner_texts()


@pytest.mark.parametrize("entry", PAGES, ids=[p.url_path for p in PAGES])
def test_every_page_loads_without_an_exception(app, tall_page, entry):
    name = entry.url_path
    open_page(tall_page, app, "" if entry is HOME else name)
    assert exceptions(tall_page) == []
    assert tall_page.locator("h1").first.inner_text().strip() == entry.title
    if name in SHOT_AS_OPENED:
        assert tall_page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
        shoot(tall_page, name)
    assert healthy(app)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("entry", PAGES, ids=[p.url_path for p in PAGES])
def test_every_page_fits_a_laptop_and_a_desktop_width(app, browser, entry, width):
    """Each page at 1024 and 1440 px: it loads clean, its charts and its HTML tables fit
    the column, every cell of those shows its whole text, and the page itself never
    scrolls sideways (a long data frame scrolls inside its own frame)."""
    page = new_page(browser, width=width, height=1000)
    try:
        open_page(page, app, "" if entry is HOME else entry.url_path)
        assert exceptions(page) == []
        assert_charts_fit(page.evaluate(LAYOUT))
        assert_tables_fit(page.evaluate(TABLES))
        overflow = page.evaluate("() => document.documentElement.scrollWidth"
                                 " - document.documentElement.clientWidth")
        assert overflow <= 0, f"{entry.url_path} at {width} px scrolls sideways by {overflow}"
    finally:
        page.context.close()


@pytest.mark.parametrize("query, float64_captions", [
    ("dtypes=float32", ["Add float64 to the dtypes"]),
    ("", ["float64's own rounding"])], ids=["without-float64", "default"])
def test_precision_redraws_leave_nothing_of_an_earlier_draw(app, tall_page, query,
                                                            float64_captions):
    """Issue 20, item 7: the page draws its small sizes first and redraws as each larger
    one finishes; the first draw had one more element (the progress line), so its last
    caption stayed on the page twice. Each caption and download row now shows once."""
    open_page(tall_page, app, "precision", query)
    assert exceptions(tall_page) == []
    captions = tall_page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    assert [c for c in captions if "float64" in c[:40]] == [
        c for c in captions if any(c.startswith(f) for f in float64_captions)]
    assert len([c for c in captions if "float64" in c[:40]]) == 1, captions
    assert not any(c.startswith("Drawn so far") for c in captions), "every size drawn"
    charts = tall_page.locator('[data-testid="stVegaLiteChart"]').count()
    downloads = tall_page.locator('[data-testid="stDownloadButton"]').count()
    assert downloads == 2 * charts, "one PNG and one SVG per chart, none left over"


def test_default_views_keep_a_clean_url(app, page):
    for name in ("sweep", "precision"):
        open_page(page, app, name)
        assert urlsplit(page.url).query == "", page.url


def test_sweep_runs_and_downloads_its_csv(app, tall_page):
    page = tall_page
    open_page(page, app, "sweep")
    textbox(page, "dims (m = n)").fill("2..256")
    textbox(page, "seeds").fill("0")
    page.get_by_role("button", name="Run sweep").click()
    download_button = page.get_by_role("button", name="Download the CSV")
    download_button.wait_for()
    settle(page)
    assert exceptions(page) == []
    assert query(page) == {"dims": ["2..256"], "seeds": ["0"], "run": ["1"]}
    with page.expect_download() as info:
        download_button.click()
    data = info.value.path().read_bytes()
    frame = read_csv_bytes(data, "gradlab-sweep.csv")
    sweep = Sweep.default()
    dims = tuple(2**k for k in range(1, 9))
    assert len(frame) == len(dims) * len(DTYPE_NAMES) * len(sweep.eps)
    assert sorted(set(frame["n"])) == list(dims)
    assert (frame["m"] == frame["n"]).all()
    assert set(frame["dtype"]) == set(DTYPE_NAMES)
    assert set(frame["seed"]) == {0}
    assert (frame["error"] == "").all()
    assert to_csv_bytes(frame) == data, "the download is the CSV writer's own bytes"
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 1
    shoot(page, "sweep")


def test_sweep_point_count_follows_typing_before_the_run(app, page):
    open_page(page, app, "sweep")
    caption = page.locator('[data-testid="stCaptionContainer"]').first
    assert caption.inner_text().startswith("432 points")
    textbox(page, "seeds").fill("0")
    textbox(page, "seeds").press("Enter")
    expect(caption).to_contain_text(re.compile(r"^144 points"))  # polls: no sleep
    settle(page)
    assert page.locator('[data-testid="stDownloadButton"]').count() == 0, "not run yet"


def test_shared_sweep_url_restores_the_widgets(app, page):
    url = "dims=2..8&seeds=5&dtypes=float32,float16&methods=autograd,structured,kron"
    open_page(page, app, "sweep", url)
    assert textbox(page, "dims (m = n)").input_value() == "2..8"
    assert textbox(page, "seeds").input_value() == "5"
    assert tags(page, "dtypes") == ["float32", "float16"]
    assert tags(page, "methods") == ["autograd", "structured", "kron"]
    assert urlsplit(page.url).query == url, "the URL is kept as it was shared"
    assert page.locator('[data-testid="stDownloadButton"]').count() == 0, "not run yet"


def test_shared_url_of_a_run_sweep_shows_its_results(app, page):
    open_page(page, app, "sweep", "dims=2..8&seeds=0&dtypes=float32&columns=none&run=1")
    assert exceptions(page) == []
    assert page.locator('[data-testid="stDownloadButton"]').count() == 1
    assert page.get_by_text("9 rows, one per point").count() == 1
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 1


def test_shared_precision_and_explorer_urls_restore_the_widgets(app, page):
    open_page(page, app, "precision", "dims=2..16&units=u&dtypes=float32,bfloat16")
    assert textbox(page, "dims (m = n)").input_value() == "2..16"
    assert page.get_by_role("radio", name="in units of u").is_checked()
    assert tags(page, "dtypes") == ["float32", "bfloat16"]
    open_page(page, app, "", "preset=0&m=5&n=7&dtype=bfloat16")
    assert textbox(page, "m (outputs)").input_value() == "5"
    assert textbox(page, "n (inputs)").input_value() == "7"
    assert "m=5, n=7" in page.locator("h3").first.inner_text()
    assert "bfloat16" in page.locator("h3").first.inner_text()


def test_bad_url_values_show_a_message_not_an_exception(app, page):
    open_page(page, app, "sweep", "dims=2,x&dtypes=float8")
    assert exceptions(page) == []
    alerts = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    assert "float8" in alerts and "dims" in alerts


def test_sweep_past_the_guard_is_refused(app, page):
    open_page(page, app, "sweep", "dims=1000000&run=1")
    assert exceptions(page) == []
    alert = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    assert "m=1000000" in alert and "MiB" in alert and "budget" in alert
    assert healthy(app)


def test_compare_overlays_uploads_and_names_a_bad_file(app, tall_page, tmp_path):
    page = tall_page
    paths = []
    for seeds in ((0,), (0, 1)):  # the seed-0 points are in both files
        frame = run_sweep(Sweep(dims=(2, 4, 8, 16, 32, 64, 128, 256), dtypes=DTYPE_NAMES,
                                seeds=seeds))
        path = tmp_path / f"seeds{'-'.join(map(str, seeds))}.csv"
        path.write_bytes(to_csv_bytes(frame))
        paths.append(path)
    broken = tmp_path / "broken.csv"
    broken.write_text("m,n\n1,2\n")
    open_page(page, app, "compare")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [str(p) for p in (*paths, broken)])
    page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for()
    settle(page)
    assert exceptions(page) == []
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert len(errors) == 1 and errors[0].split("\n")[-1].startswith("broken.csv:")
    assert "missing columns" in errors[0]
    info = " ".join(page.locator('[data-testid="stAlertContentInfo"]').all_inner_texts())
    points = 8 * len(DTYPE_NAMES)  # sizes × dtypes, one ε
    assert f"Compared on the {points} points present in every file" in info
    assert f"seeds0-1.csv {points}" in info, "the seed-1 rows are left out"
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 2
    shoot(page, "compare")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("query, cells", [("", [6, 6, 6]), ("preset=0&m=32&n=48", [768] * 3)],
                         ids=["notebook", "pooled"])
def test_explorer_heat_maps_draw_their_cells_at_desktop_widths(app, browser, width, query,
                                                              cells):
    """Issue 11: at 1024 px with the sidebar open the heat maps drew no cells, the
    verdict read "too-c…" and the LaTeX ran off the edge."""
    page = new_page(browser, width=width, height=1000)
    open_page(page, app, "", query)
    assert exceptions(page) == [] and sidebar_open(page)
    charts = page.evaluate(LAYOUT)
    assert_charts_fit(charts)
    gradients = charts[:3]
    assert [c["cells"] for c in gradients] == cells, "every cell of both gradients and |Δ|"
    for chart in gradients:
        assert chart["cellWidth"] >= 3 and chart["cellHeight"] >= 3, chart
    assert page.evaluate(CLIPPED) == []
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text="Verdict:").first
    assert "Verdict: pass" in verdict.inner_text()
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", ["precision", "epsilon"])
def test_panelled_charts_fit_desktop_widths(app, browser, width, path):
    page = new_page(browser, width=width, height=1000)
    open_page(page, app, path)
    assert exceptions(page) == [] and sidebar_open(page)
    assert_charts_fit(page.evaluate(LAYOUT))
    page.context.close()


ZOO = ("dims=2..64&seeds=0&dtypes=float32,bfloat16&eps=1e-05"
       "&variants=none,no-projection,eps-missing&columns=none&run=1")


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_chart_draws_each_variant_with_its_verdicts(app, browser, width):
    """Issue 12: each variant its own line beside the correct derivation, every point
    marked with its verdict, the legend naming only what is drawn."""
    page = new_page(browser, width=width, height=1000)
    open_page(page, app, "sweep", ZOO)
    assert exceptions(page) == []
    (chart,) = page.evaluate(LAYOUT)
    assert_charts_fit([chart])
    sizes, dtypes, variants = 6, 2, 3
    assert chart["points"] == sizes * dtypes * variants, "one point per size, dtype, variant"
    legend = set(chart["texts"])
    assert {"none", "no-projection", "eps-missing"} <= legend
    assert {"pass", "fail"} <= legend and "float32" in legend and "bfloat16" in legend
    assert "float64" not in legend and "float16" not in legend
    page.context.close()


def grid_cells(view: OpsView) -> int:
    """How many cells the Ops grid draws for ``view`` (the shipped run)."""
    return len(select(op_cells(load_ops()), view).cells)


def test_ops_filters_and_opens_an_op_on_verify(app, browser):
    """The Ops page at 1440 px: its grid draws every cell of the ops drawn; a name typed
    in the sidebar narrows it and goes to the URL; an op's link opens it on Verify,
    which verifies it live."""
    page = new_page(browser, width=max(WIDTHS), height=1000)
    open_page(page, app, "ops")
    assert exceptions(page) == [] and sidebar_open(page)
    (grid,) = page.evaluate(LAYOUT)
    assert_charts_fit([grid])
    assert grid["cells"] == grid_cells(OpsView())
    assert grid["cellWidth"] >= 3 and grid["cellHeight"] >= 3, grid
    shoot(page, "ops")
    textbox(page, "op name contains").fill("softmax")
    textbox(page, "op name contains").press("Enter")
    page.wait_for_url(re.compile(r"[?&]name=softmax"))  # polls: no sleep
    settle(page)
    assert exceptions(page) == []
    (grid,) = page.evaluate(LAYOUT)
    assert grid["cells"] == grid_cells(OpsView(name="softmax"))
    link = page.locator('[data-testid="stPageLink-NavLink"]').filter(
        has_text="on the Verify page")
    op = link.inner_text().split("Open ", 1)[1].split(" on the Verify page")[0]
    assert "softmax" in op
    link.click()
    page.wait_for_url(re.compile(r"/verify\?"))
    settle(page)
    assert exceptions(page) == []
    assert page.locator("h1").first.inner_text().strip() == "Verify"
    assert query(page)["source"] == ["op"] and query(page)["op"] == [op]
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text="Verdict:").first
    assert "Verdict:" in verdict.inner_text()
    page.context.close()


def test_deep_link_on_a_fresh_server(browser, tmp_path):
    """A shared deep link opened first on a fresh server gets app.py's navigation.

    Streamlit runs a folder named pages/ as a legacy (v1) multipage app until some
    session has run app.py, so the page scripts live in views/ instead."""
    server = start_server(tmp_path / "fresh.log")
    try:
        page = new_page(browser)
        open_page(page, server.url, "precision", "dims=2..8&seeds=0")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Explorer" in nav and "app" not in nav.split()
        page.context.close()
    finally:
        stop_server(server)


@pytest.mark.parametrize("path", ["", "sweep"], ids=["explorer", "sweep-which-stops"])
def test_a_sessions_first_run_leaves_no_trace_of_the_renderer_warm_up(app, browser, path):
    """The launched server (``python -m dashboard``) shows a hidden empty chart while a
    session's first run waits for the preload (``navigation.fetch_renderer``): once the
    page is done it is gone, also on a page that ends with st.stop() (Sweep, before a
    run), and every chart left is the page's own, visible."""
    from dashboard.navigation import RENDERER_WARMUP

    page = new_page(browser)
    open_page(page, app, path)
    assert page.locator(f".st-key-{RENDERER_WARMUP}").count() == 0
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    assert all(charts.nth(i).is_visible() for i in range(charts.count()))
    assert exceptions(page) == []
    page.context.close()
