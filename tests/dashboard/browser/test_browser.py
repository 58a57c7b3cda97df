"""The dashboard in a real browser: every page loads, a sweep runs and downloads, a shared
URL restores its widgets, Compare overlays uploads; screenshots go to docs/screenshots/."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

pytest.register_assert_rewrite("browser_helpers")  # it is also loaded as a plugin, below
from browser_helpers import (  # noqa: E402
    PAGES,
    exceptions,
    healthy,
    new_page,
    open_page,
    settle,
    shoot,
    start_server,
    stop_server,
)

from gradlab.core.dtypes import DTYPE_NAMES  # noqa: E402
from gradlab.sweep.export import read_csv_bytes, to_csv_bytes  # noqa: E402
from gradlab.sweep.grid import Sweep  # noqa: E402
from gradlab.sweep.runner import run_sweep  # noqa: E402

#: The fixtures (server, browser, page, tall_page) live in a helper module, not a
#: conftest.py, which would shadow tests/conftest.py (both import as "conftest").
pytest_plugins = ["browser_helpers"]
pytestmark = pytest.mark.browser

TITLES = {"explorer": "Explorer", "sweep": "Sweep", "precision": "Precision",
          "epsilon": "Epsilon", "compare": "Compare"}
#: Pages whose default view is worth a screenshot as it is (Sweep and Compare are shot
#: with results, by their own tests).
SHOT_AS_OPENED = ("explorer", "precision", "epsilon")


@pytest.fixture(scope="module")
def app(server, browser) -> str:
    """The server's URL, once the entry page (app.py) has run."""
    page = new_page(browser)
    open_page(page, server.url)
    page.context.close()
    return server.url


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def textbox(page, label: str):
    return page.get_by_role("textbox", name=label, exact=True)


def tags(page, label: str) -> list[str]:
    """The chosen values of the multiselect labelled ``label``."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label))
    return box.first.locator('.react-aria-ComboBox [data-tag] > span[title]').all_inner_texts()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_loads_without_an_exception(app, tall_page, name):
    open_page(tall_page, app, "" if name == "explorer" else name)
    assert exceptions(tall_page) == []
    assert tall_page.locator("h1").first.inner_text().strip() == TITLES[name]
    if name in SHOT_AS_OPENED:
        assert tall_page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
        shoot(tall_page, name)
    assert healthy(app)


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
    assert page.get_by_role("spinbutton", name="m (outputs)").input_value() == "5"
    assert page.get_by_role("spinbutton", name="n (inputs)").input_value() == "7"
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
    for seed in (0, 1):
        frame = run_sweep(Sweep(dims=(2, 4, 8, 16, 32, 64, 128, 256), dtypes=DTYPE_NAMES,
                                seeds=(seed,)))
        path = tmp_path / f"seed{seed}.csv"
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
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 2
    shoot(page, "compare")


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
