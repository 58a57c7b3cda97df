"""Memory over a long session: one visitor uses every page with several cases, and the
server's resident memory must stay under a stated bound.

The Explorer caches a small summary per case (numbers and pictures pooled to at most
32 × 32), not the whole check with its m × n tensors, and the sweeps' cache holds
their rows only; so memory follows the largest case computed, not the number of
cases visited. The figures are printed (run with -s) and recorded in the README
("Memory over a long session").
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("browser_helpers")  # it is also loaded as a plugin, below
from browser_helpers import (  # noqa: E402
    exceptions,
    new_page,
    open_page,
    rss_kib,
    settle,
    start_server,
    stop_server,
)

from gradlab.sweep.export import to_csv_bytes  # noqa: E402
from gradlab.sweep.grid import Sweep  # noqa: E402
from gradlab.sweep.runner import run_sweep  # noqa: E402

pytest_plugins = ["browser_helpers"]
pytestmark = pytest.mark.browser

#: After a warm-up visit of every page, more new cases (each m = n = 1024 in four
#: dtypes) may add at most GROWTH_BOUND_MIB to the server's resident memory (VmRSS);
#: at the end it must be under RSS_BOUND_MIB, and its peak (VmHWM) under
#: PEAK_BOUND_MIB. A fresh server with torch loaded sits near 0.4 GiB. Caching whole
#: checks, each such case kept about 48 MiB of tensors (pickled) in the cache.
GROWTH_BOUND_MIB = 60
RSS_BOUND_MIB = 600
PEAK_BOUND_MIB = 800
#: The warm-up: every page, several cases each (a new seed or variant is a new case).
EXPLORER = ["", "preset=0&m=64&n=64", "preset=0&m=300&n=200&variant=no-projection",
            "preset=0&m=512&n=512&dtype=float64", "preset=0&m=1024&n=1024",
            "preset=0&m=16&n=16&scale=0.0001&dtype=float16"]
OTHERS = [("sweep", "dims=2..128&seeds=0&run=1"),
          ("sweep", "dims=2..64&seeds=0&variants=none,no-projection,eps-missing&run=1"),
          ("precision", "dims=2..128&seeds=0,1"), ("precision", "dims=2..64&units=u"),
          ("epsilon", ""), ("epsilon", "m=64&seed=3")]
#: Then more new cases, each a 1024 × 1024 check in four dtypes.
MORE = ["preset=0&m=1024&n=1024&seed=1&variant=wrong-mean&dtype=bfloat16",
        "preset=0&m=1024&n=1024&seed=2&dtype=float64",
        "preset=0&m=1024&n=1024&seed=3&placement=outside"]


@pytest.fixture(scope="module")
def memory_server(tmp_path_factory):
    """A server of its own, so its memory is this test's alone."""
    server = start_server(tmp_path_factory.mktemp("memory") / "streamlit.log")
    yield server
    stop_server(server)


def test_a_long_session_stays_under_its_memory_bound(browser, memory_server, tmp_path):
    url, pid = memory_server.url, memory_server.process.pid
    page = new_page(browser)
    open_page(page, url)
    start = rss_kib(pid)
    for query in EXPLORER:
        open_page(page, url, "", query)
        assert exceptions(page) == [], query
    for path, query in OTHERS:
        open_page(page, url, path, query)
        assert exceptions(page) == [], (path, query)
    files = []
    for seeds in ((0,), (0, 1)):
        path = tmp_path / f"seeds{len(seeds)}.csv"
        path.write_bytes(to_csv_bytes(run_sweep(Sweep(dims=(2, 8, 32, 128), seeds=seeds))))
        files.append(str(path))
    open_page(page, url, "compare")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(files)
    page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for()
    settle(page)
    assert exceptions(page) == []
    warm = rss_kib(pid)
    for query in MORE + EXPLORER[:3]:  # new cases, then back to cached ones
        open_page(page, url, "", query)
        assert exceptions(page) == [], query
    page.context.close()

    now, peak = rss_kib(pid), rss_kib(pid, "VmHWM")
    print(f"\nlong session: {len(EXPLORER) + len(MORE) + 3} Explorer views, {len(OTHERS)} "
          f"other pages, 2 uploads; server RSS {start / 1024:.0f} MiB after the first page, "
          f"{warm / 1024:.0f} MiB after every page once, {now / 1024:.0f} MiB after "
          f"{len(MORE)} more 1024 × 1024 cases, peak (VmHWM) {peak / 1024:.0f} MiB")
    assert now - warm < GROWTH_BOUND_MIB * 1024, f"grew {(now - warm) / 1024:.0f} MiB"
    assert now < RSS_BOUND_MIB * 1024, f"RSS {now / 1024:.0f} MiB"
    assert peak < PEAK_BOUND_MIB * 1024, f"peak RSS {peak / 1024:.0f} MiB"
