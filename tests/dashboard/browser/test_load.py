"""Load check: four browser sessions run sweeps at once on one server.

The server must stay healthy (/_stcore/health answers throughout), each session must
get its own results (its own seed, in its own CSV), and the server's memory must stay
under a stated bound. The figures reached are printed (run with -s to see them) and
recorded in the README ("Load check").
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.register_assert_rewrite("browser_helpers")  # it is also loaded as a plugin, below
from browser_helpers import (  # noqa: E402
    exceptions,
    healthy,
    new_page,
    open_page,
    rss_kib,
    settle,
    start_server,
    stop_server,
)

from gradlab.core.dtypes import DTYPE_NAMES  # noqa: E402
from gradlab.sweep.export import read_csv_bytes  # noqa: E402

pytest_plugins = ["browser_helpers"]
pytestmark = pytest.mark.browser

SESSIONS = 4
DIMS = tuple(2**k for k in range(1, 10))  # 2 … 512
EPS = (0.0, 1e-6, 1e-5)
POINTS = len(DIMS) * len(DTYPE_NAMES) * len(EPS)
#: The server's peak resident memory (VmHWM) must stay under this. A fresh server
#: with torch loaded sits near 0.4 GiB; four 108-point sweeps up to m = n = 512 add
#: little, since each point is dropped once its row is written; the m = n = 10⁶
#: requests are refused before anything is allocated.
RSS_BOUND_MIB = 1024
#: Visitors asking for m = n = 10⁶ at the same time: each must get a message.
HUGE = ("sweep?dims=1000000&run=1", "?preset=0&m=1000000&n=1000000",
        "precision?dims=1000000")


class Monitor:
    """Polls the server's health and memory on a thread while the sessions run."""

    def __init__(self, url: str, pid: int, every_s: float = 0.25):
        self.url, self.pid, self.every_s = url, pid, every_s
        self.checks = self.failures = 0
        self.max_rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.checks += 1
            self.failures += not healthy(self.url)
            self.max_rss_kib = max(self.max_rss_kib, rss_kib(self.pid))
            self._stop.wait(self.every_s)  # the sampling interval, not synchronisation

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def load_server(tmp_path_factory):
    """A server of its own, so its memory is this test's alone."""
    server = start_server(tmp_path_factory.mktemp("load") / "streamlit.log")
    yield server
    stop_server(server)


def test_four_sessions_sweep_at_once(browser, load_server):
    url, pid = load_server.url, load_server.process.pid
    warm = new_page(browser)
    open_page(warm, url)  # app.py has run once (see test_browser.test_deep_link_…)
    warm.context.close()
    rss_start = rss_kib(pid)

    pages = [new_page(browser) for _ in range(SESSIONS)]  # one context each: own session
    huge = [new_page(browser) for _ in HUGE]
    start = time.monotonic()
    with Monitor(url, pid) as monitor:
        for seed, page in enumerate(pages):
            page.goto(f"{url}/sweep?dims=2..512&seeds={seed}&run=1")
        for path, page in zip(HUGE, huge):
            page.goto(f"{url}/{path}")
        for page in huge:
            settle(page)
            assert exceptions(page) == []
            alert = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
            assert "1000000" in alert and "MiB" in alert, alert
        for page in pages:
            page.get_by_role("button", name="Download the CSV").wait_for()
            settle(page)
        elapsed = time.monotonic() - start
        frames = []
        for page in pages:
            assert exceptions(page) == []
            with page.expect_download() as info:
                page.get_by_role("button", name="Download the CSV").click()
            frames.append(read_csv_bytes(info.value.path().read_bytes(), "sweep.csv"))
    for page in pages + huge:
        page.context.close()

    peak = rss_kib(pid, "VmHWM")
    print(f"\nload check: {SESSIONS} sessions × {POINTS} points in {elapsed:.1f} s; "
          f"server RSS {rss_start / 1024:.0f} MiB before, max sampled "
          f"{monitor.max_rss_kib / 1024:.0f} MiB, peak (VmHWM) {peak / 1024:.0f} MiB; "
          f"{monitor.checks} health checks, {monitor.failures} failed")
    assert monitor.checks > 0 and monitor.failures == 0
    assert healthy(url)
    for seed, frame in enumerate(frames):
        assert len(frame) == POINTS
        assert set(frame["seed"]) == {seed}, "each session got its own sweep"
        assert sorted(set(frame["n"])) == list(DIMS)
    assert not frames[0]["ref_max_abs"].equals(frames[1]["ref_max_abs"])
    assert peak < RSS_BOUND_MIB * 1024, f"peak RSS {peak / 1024:.0f} MiB"
