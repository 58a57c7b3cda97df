"""Dashboard responsiveness, measured in a real browser (issue 4's targets).

    python bench/bench_dashboard.py [--sizes 64,256,512] [--reps 7] [--colds 3]
                                    [--precision 3]

- cold start: from launching scripts/run.sh's ``python -m dashboard app.py`` to the
  Explorer's first chart drawn in Chromium (issue 21's target ≤ 5 s; issue 4's was
  ≤ 10 s). Each repetition starts a fresh server. Interleaved with it, the same from
  a plain ``streamlit run app.py`` (no preload: dashboard/preload.py).
- re-render: on the Explorer with the notebook preset off and m = n = size, the
  time from committing a new seed (Enter: a new case, four dtypes checked, nothing
  cached) until the page has re-run and every chart has redrawn (target ≤ 1 s for
  m, n ≤ 512). Also a dtype change (clicking the option; the checks are cached).
- Precision, first open: on a fresh server whose app has run once (the Explorer
  opened, so torch is loaded), from opening /precision with its default sizes
  (nothing cached) to the first chart drawn (target ≤ 3 s), and to the whole
  page done (every size drawn). Each repetition starts a fresh server. Beside it,
  interleaved, Streamlit's own render of the same elements (bench/render_precision.py:
  the same charts from rows computed beforehand), and the ratio of the two.

Synchronisation is by page state (the case title names the new seed, the script
state is notRunning, every chart has an svg), never by sleeping. Prints a
Markdown report; medians, with the worst repetition beside them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from dashboard.navigation import RENDERER_WARMUP

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "dashboard" / "browser"))
from browser_helpers import (  # noqa: E402
    ALL_CHARTS_DRAWN,
    CHROMIUM,
    CHROMIUM_ARGS,
    checkout_command,
    new_page,
    open_page,
    settle,
    start_server,
    stop_server,
)

TITLE_HAS = """([text]) => [...document.querySelectorAll('h3')]
    .some(h => h.innerText.includes(text))"""


#: A page's own chart drawn (as SVG or on a canvas, with a size): not the hidden chart
#: that a launched server's first run shows to fetch the renderer
#: (``navigation.fetch_renderer``).
FIRST_CHART_DRAWN = ("""() => [...document.querySelectorAll(
        '[data-testid="stVegaLiteChart"] svg, [data-testid="stVegaLiteChart"] canvas')]
    .some(e => !e.closest('.st-key-""" + RENDERER_WARMUP
                     + """') && e.getBoundingClientRect().width > 0)""")


def open_to_first_chart(page, url: str) -> None:
    """Go to ``url`` and return once its first chart is drawn."""
    page.goto(url)
    page.wait_for_function(FIRST_CHART_DRAWN)


def plain_command(port: int) -> list[str]:
    """``streamlit run app.py`` with the checkout's options, without the preload."""
    return [sys.executable, "-m", "streamlit", "run", *checkout_command(port)[3:]]


def cold_start(browser, log: Path, command=checkout_command) -> tuple[float, float]:
    """(seconds to a healthy server, seconds to the first chart drawn)."""
    start = time.perf_counter()
    server = start_server(log, command=command)
    ready = time.perf_counter() - start
    try:
        page = new_page(browser)
        open_to_first_chart(page, server.url)
        first_chart = time.perf_counter() - start
        page.context.close()
    finally:
        stop_server(server)
    return ready, first_chart


def precision_first_open(browser, log: Path) -> tuple[float, float]:
    """(seconds to the Precision page's first chart, seconds until the page is done)."""
    server = start_server(log)
    try:
        page = new_page(browser)
        open_page(page, server.url)  # app.py and the Explorer run once: torch is loaded
        start = time.perf_counter()
        open_to_first_chart(page, f"{server.url}/precision")
        first = time.perf_counter() - start
        page.wait_for_function(STILL_RUNNING_GONE)
        settle(page)
        done = time.perf_counter() - start
        page.context.close()
    finally:
        stop_server(server)
    return first, done


def precision_rows(path: Path) -> Path:
    """The rows of the Precision page's first draw (its default view's first part),
    pickled for ``render_precision.py``."""
    from dashboard.precision import PrecisionView
    from gradlab.sweep.runner import run_sweep

    run_sweep(PrecisionView().parts()[0]).to_pickle(path)
    return path


def render_command(port: int) -> list[str]:
    """The browser tests' ``streamlit run`` command, on bench/render_precision.py."""
    script = str(ROOT / "bench" / "render_precision.py")
    return [script if arg == "app.py" else arg for arg in checkout_command(port)]


def render_first_open(browser, log: Path, rows: Path) -> float:
    """Seconds to the first chart of Streamlit's own render of the same elements
    (bench/render_precision.py on the rows computed beforehand), on a fresh server
    whose script has run once."""
    server = start_server(log, env={"GRADLAB_BENCH_FRAME": str(rows)}, command=render_command)
    try:
        page = new_page(browser)
        # The script's first run (its imports) is not timed; the timed open reloads in
        # the same browser context, as precision_first_open opens /precision after the
        # Explorer, so both find the front end's files in the browser's cache.
        open_page(page, server.url)
        start = time.perf_counter()
        open_to_first_chart(page, server.url)
        first = time.perf_counter() - start
        page.context.close()
    finally:
        stop_server(server)
    return first


#: The Precision page says "Still running: …" until its last size is drawn.
STILL_RUNNING_GONE = """() => ![...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .some(c => c.innerText.includes('Still running'))
    && document.querySelectorAll('[data-testid="stVegaLiteChart"]').length >= 2"""


def timed(page, prepare, commit, done_text: str) -> float:
    """Seconds from the committing interaction (Enter, an option's click) until the page
    has re-run and redrawn; ``prepare`` (typing, opening a list) is not timed."""
    prepare()
    start = time.perf_counter()
    commit()
    page.wait_for_function(TITLE_HAS, arg=[done_text])
    settle(page)
    page.wait_for_function(ALL_CHARTS_DRAWN)
    return time.perf_counter() - start


def rerenders(page, url: str, size: int, reps: int) -> dict[str, list[float]]:
    open_page(page, url, "", f"preset=0&m={size}&n={size}")
    seed = page.get_by_label("seed", exact=True)  # a text box (a number box before)
    out: dict[str, list[float]] = {"seed": [], "dtype": []}
    for rep in range(1, reps + 1):
        out["seed"].append(timed(page, lambda rep=rep: seed.fill(str(rep)),
                                 lambda: seed.press("Enter"), f"seed={rep}"))
    dtypes = ["float64", "bfloat16", "float16", "float32"]
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="dtype").first
    for rep in range(reps):
        dtype = dtypes[rep % len(dtypes)]
        option = page.get_by_role("option", name=dtype, exact=True)
        out["dtype"].append(timed(page, box.click, option.click, f"· {dtype} ·"))
    return out


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (worst {max(values):.2f} s)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64,256,512")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--colds", type=int, default=3)
    parser.add_argument("--precision", type=int, default=3,
                        help="fresh servers for the Precision first-open measurement")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]  # "": no re-render rows
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        colds, plains = [], []
        for i in range(args.colds):  # interleaved: a load change hits both alike
            colds.append(cold_start(browser, Path(tmp) / f"cold{i}.log"))
            plains.append(cold_start(browser, Path(tmp) / f"plain{i}.log", plain_command))
        rows = precision_rows(Path(tmp) / "rows.pkl") if args.precision else None
        precision, renders = [], []
        for i in range(args.precision):  # interleaved: a load change hits both alike
            precision.append(precision_first_open(browser, Path(tmp) / f"precision{i}.log"))
            renders.append(render_first_open(browser, Path(tmp) / f"render{i}.log", rows))
        results = {}
        if sizes:
            server = start_server(Path(tmp) / "warm.log")
            try:
                page = new_page(browser)
                open_page(page, server.url)  # the app's first run is not timed
                results = {size: rerenders(page, server.url, size, args.reps)
                           for size in sizes}
            finally:
                stop_server(server)
        browser.close()

    print("| measure | median (worst) | target |")
    print("|---|---|---|")
    if colds:
        print(f"| cold start: server healthy | {summary([c[0] for c in colds])} | |")
        print(f"| cold start: Explorer's first chart drawn | {summary([c[1] for c in colds])} "
              f"| ≤ 5 s |")
        print(f"| cold start, plain streamlit run app.py (no preload): server healthy | "
              f"{summary([c[0] for c in plains])} | |")
        print(f"| cold start, plain streamlit run app.py (no preload): first chart drawn | "
              f"{summary([c[1] for c in plains])} | |")
    if precision:
        print(f"| Precision, first open: first chart drawn | "
              f"{summary([p[0] for p in precision])} | ≤ 3 s |")
        print(f"| Precision, first open: every size drawn | "
              f"{summary([p[1] for p in precision])} | |")
        print(f"| Streamlit's own render of the same elements: first chart drawn | "
              f"{summary(renders)} | |")
        ratios = [p[0] / r for p, r in zip(precision, renders)]
        print(f"| Precision's first chart ÷ that render (per repetition) | "
              f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}×) | |")
    for size, times in results.items():
        print(f"| Explorer m = n = {size}: new seed (4 dtypes checked) | "
              f"{summary(times['seed'])} | ≤ 1 s |")
        print(f"| Explorer m = n = {size}: dtype change (cached checks) | "
              f"{summary(times['dtype'])} | ≤ 1 s |")
    print(f"\n{args.colds} cold starts, {args.precision} Precision first opens, {args.reps} "
          f"repetitions per size and widget; Chromium headless, 1400×1000.")


if __name__ == "__main__":
    main()
