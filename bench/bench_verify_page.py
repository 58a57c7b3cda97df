"""The Verify page's first render: its computations alone, the page's first run in
AppTest (cold caches, in one process) and a rerun from the cache.

    python bench/bench_verify_page.py [--reps 3]

The default view is LayerNorm's hand-written backward at width 1024 in float32,
bfloat16 and float16, its size sweep at 64, 256 and 1024, and the float32 |Δ|
maps. Each round starts a fresh AppTest with the page's caches cleared; the
medians over ``--reps`` rounds are printed. The machine is shared: compare the
figures of one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "dashboard" / "app"))

from apptest_helpers import page  # noqa: E402

from dashboard.verify import VerifyView  # noqa: E402
from gradlab.verification.run import gradient_deltas  # noqa: E402


def computations(view: VerifyView) -> float:
    """Seconds of what the default view computes, uncached."""
    prob, start = view.problem_spec, time.perf_counter()
    for size in view.sweep_sizes():
        prob.verify(view.candidate, size, view.dtypes, view.seed)
    gradient_deltas(prob.candidate(view.candidate).fn, prob.reference,
                    prob.inputs(view.problem_size, view.seed), view.dtypes[0], view.seed)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    view = VerifyView()
    computations(view)  # imports and torch's first calls, outside the timings
    rows = {"computations": [], "page, first run": [], "page, rerun (cached)": []}
    for _ in range(args.reps):
        rows["computations"].append(computations(view))
        st.cache_data.clear()
        start = time.perf_counter()
        app = page("verify").run()
        rows["page, first run"].append(time.perf_counter() - start)
        assert not app.exception, app.exception
        start = time.perf_counter()
        app.run()
        rows["page, rerun (cached)"].append(time.perf_counter() - start)
    print("| what | median s |\n|---|---|")
    for what, seconds in rows.items():
        print(f"| {what} | {statistics.median(seconds):.2f} |")


if __name__ == "__main__":
    main()
