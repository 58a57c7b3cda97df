"""A real dashboard for the browser tests: ``streamlit run app.py`` on a free port,
driven by Playwright through Debian's Chromium (never ``playwright install``).

A helper module, not a conftest.py: tests/conftest.py is imported as "conftest" too,
and a second one would shadow it. Test modules load the fixtures with
``pytest_plugins = ["browser_helpers"]`` and import the helpers.

Synchronisation is by state, never by sleeping: the server is ready when
/_stcore/health answers; a page is ready when the app's script state is
``notRunning``, no skeleton placeholder is left and every chart has drawn.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "docs" / "screenshots"
START_TIMEOUT_S = 90
#: A page's scripts may run a cold sweep: allow for a slow CI machine.
READY_TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str, timeout_s: float = 5) -> bool:
    """Whether /_stcore/health answers "ok" within ``timeout_s``."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout_s) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory in KiB from /proc (VmRSS now, VmHWM its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def checkout_command(port: int) -> list[str]:
    """The checkout's dashboard as scripts/run.sh starts it, ``python -m dashboard
    app.py`` (``streamlit run app.py`` with the first page's imports preloaded), from
    the repository root."""
    return [sys.executable, "-m", "dashboard", "app.py", "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false"]


def start_server(log: Path, env: dict | None = None, command=checkout_command,
                 cwd: Path = ROOT) -> Server:
    """Start the dashboard (``command(port)``, run in ``cwd``) and return once
    /_stcore/health answers (bounded poll)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    handle = log.open("w")
    process = subprocess.Popen(command(port), cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                               env={**os.environ, **(env or {})})
    server = Server(url, process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not healthy(url):
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"streamlit not healthy after {START_TIMEOUT_S} s:\n"
                               f"{server.tail()}")
        try:  # the poll interval doubles as a check that the server is still alive
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"streamlit exited with {process.returncode}:\n{server.tail()}")
    return server


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("streamlit") / "streamlit.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def app(server, browser) -> str:
    """The server's URL, once the entry page (app.py) has run."""
    page = new_page(browser)
    open_page(page, server.url)
    page.context.close()
    return server.url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser, width: int = 1400, height: int = 1000, **context_args):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  accept_downloads=True, **context_args)
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    return page


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def tall_page(browser):
    """A 1400 × 3000 viewport: Streamlit scrolls inside its main block, so a whole page
    fits a screenshot only when the viewport is tall."""
    page = new_page(browser, height=3000)
    yield page
    page.context.close()


ALL_CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .every(chart => chart.querySelector('canvas, svg'))"""
NO_SKELETON = """() => !document.querySelector('[data-testid="stSkeleton"]')"""


def settle(page, timeout: int = READY_TIMEOUT_MS) -> None:
    """Wait until the script has finished, no placeholder is left and charts have drawn."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=timeout)
    page.wait_for_function(NO_SKELETON, timeout=timeout)
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=timeout)


def open_page(page, base: str, path: str = "", query: str = "") -> None:
    """Go to a page (path "" is the home page) and wait until it is ready."""
    page.goto(f"{base}/{path}" + (f"?{query}" if query else ""))
    settle(page)


def exceptions(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all('[data-testid="stException"]')]


CONTENT_HEIGHT = """() => {
    const bottom = (id) => {
        const el = document.querySelector(`[data-testid="${id}"]`);
        return el ? el.getBoundingClientRect().bottom : 0;
    };
    return Math.ceil(Math.max(bottom("stMainBlockContainer"), bottom("stSidebarUserContent")));
}"""


def shoot(page, name: str) -> Path:
    """docs/screenshots/<name>.png of the whole page: Streamlit scrolls inside its main
    block, so the viewport is first made as tall as the content."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    height = max(800, page.evaluate(CONTENT_HEIGHT) + 40)
    page.set_viewport_size({"width": width, "height": height})
    settle(page)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


#: The widths the dashboard must work at, with the sidebar open (it is, on a desktop).
WIDTHS = (1024, 1440)

#: The main column's content box (inside its padding), left and right.
CONTENT = """const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const box = main.getBoundingClientRect(), style = getComputedStyle(main);
  const contentLeft = box.left + parseFloat(style.paddingLeft);
  const contentRight = box.right - parseFloat(style.paddingRight);"""
#: Per chart: its box and the main column's content box, and of its SVG cells
#: (heat-map rects) and points (symbols) the count and the smallest width and height.
LAYOUT = """() => {
  """ + CONTENT + """
  return [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(chart => {
    const box = chart.getBoundingClientRect();
    const svg = chart.querySelector('svg.marks');
    const sizes = (selector) => [...(svg ? svg.querySelectorAll(selector) : [])]
      .map(p => p.getBoundingClientRect());
    const cells = sizes('g.mark-rect.role-mark path');
    const points = sizes('g.mark-symbol.role-mark path');
    const texts = [...(svg ? svg.querySelectorAll('text') : [])].map(t => t.textContent);
    return {left: box.left, right: box.right, mainLeft: contentLeft, mainRight: contentRight,
            svg: !!svg, cells: cells.length, points: points.length, texts: texts,
            cellWidth: Math.min(...cells.map(r => r.width)),
            cellHeight: Math.min(...cells.map(r => r.height))};
  });
}"""
#: What is cut off: metric labels and values whose text is wider than their box, and
#: equations that run past the main column's content box.
CLIPPED = """() => {
  """ + CONTENT + """
  const cut = [...document.querySelectorAll(
      '[data-testid="stMetricValue"] div, [data-testid="stMetricLabel"] p')]
    .filter(el => el.scrollWidth > el.clientWidth + 1);
  const wide = [...document.querySelectorAll('.katex-html')]
    .filter(el => el.getBoundingClientRect().right > contentRight + 1);
  return [...cut, ...wide].map(el => el.textContent.slice(0, 40));
}"""


#: Per HTML table (``dashboard.tables.html_table``): its name, how far it overflows its
#: frame sideways, its right edge and the main column's, the cells whose text is wider
#: than their box, and every cell's text by row.
TABLES = """() => {
  """ + CONTENT + """
  return [...document.querySelectorAll('.gradlab-table')].map(frame => {
    const cells = [...frame.querySelectorAll('th, td')];
    return {name: frame.dataset.table, overflow: frame.scrollWidth - frame.clientWidth,
            right: frame.getBoundingClientRect().right, mainRight: contentRight,
            clipped: cells.filter(c => c.scrollWidth > c.clientWidth + 1)
                          .map(c => c.innerText),
            rows: [...frame.querySelectorAll('tr')].map(
                tr => [...tr.querySelectorAll('th, td')].map(c => c.innerText))};
  });
}"""


def assert_tables_fit(tables: list[dict]) -> None:
    """Every HTML table fits the main column: no sideways scroll, no cut cell."""
    for table in tables:
        assert table["overflow"] <= 1, f"{table['name']} scrolls sideways"
        assert table["right"] <= table["mainRight"] + 1, f"{table['name']} runs off the page"
        assert table["clipped"] == [], table["name"]


def sidebar_open(page) -> bool:
    return page.locator('[data-testid="stSidebar"][data-collapsed="false"]').count() == 1


def assert_charts_fit(charts: list[dict]) -> None:
    for chart in charts:
        assert chart["svg"], "drawn as SVG"
        assert chart["left"] >= chart["mainLeft"] - 1, chart
        assert chart["right"] <= chart["mainRight"] + 1, "no chart runs off the page"
        assert not any(t.endswith("…") for t in chart["texts"]), chart["texts"]
