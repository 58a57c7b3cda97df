"""The time guard's cost models (gradlab/problems/seed/cost.py, gradlab/problems/cost.py,
gradlab/verification/cost.py), fitted and checked.

    python -m bench.bench_cost [--sizes 64,256,1024,2048,4096] [--reps 2] [--fit]

Times ``draw`` and ``run_check`` on drawn inputs (every method; kron within the
Explorer's budget) per dtype over m = n = sizes (batch 1). With --fit it prints DRAW
(seconds per entry drawn) and the least-squares coefficients of seconds = t0 +
a·m·n·batch + k·(kron's m²·n·batch) per dtype, to paste into ``COST``. Without --fit
it prints each estimate beside the measured time and their ratio: the estimate is
meant to be within 2× (docs/benchmarks.md, "The time guard").

    python -m bench.bench_cost --verify [--fit]   # each built-in problem's model
    python -m bench.bench_cost --probe [--fit]    # the probe's model, for any function
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.limits import Limits, MiB
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.cost import check_seconds, compute_seconds, draw_seconds, kron_runs
from gradlab.problems.seed.inputs import case_inputs, draw


def best_of(reps: int, call) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="64,256,512,1024,2048,4096")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--explorer", action="store_true",
                        help="time the Explorer page (AppTest, warm, new seeds) instead")
    parser.add_argument("--verify", action="store_true",
                        help="time verify on each built-in problem instead (--fit: its model)")
    parser.add_argument("--probe", action="store_true",
                        help="time verify beside its probe on each built-in problem and "
                             "candidate instead (--fit: verification.cost's model)")
    args = parser.parse_args()
    if args.explorer:
        return explorer(args.sizes, args.reps)
    if args.verify:
        return verify_problems(args.reps, args.fit)
    if args.probe:
        return probed_problems(args.reps, args.fit)
    sizes = [int(s) for s in args.sizes.split(",")]
    limits = Limits(kron_bytes=64 * MiB)
    run_check(Case(m=8, n=8), limits=limits)  # warm up
    if args.fit:
        draws = [(s * s + s, best_of(args.reps, lambda s=s: draw(s, s, 1, 0))) for s in sizes]
        print(f"DRAW = {sum(t for _, t in draws) / sum(e for e, _ in draws):.3g}", flush=True)
    for dtype in DTYPE_NAMES:
        rows = []
        for s in sizes:
            case = Case(m=s, n=s, dtype=dtype)
            inputs = case_inputs(case)
            seconds = best_of(args.reps,
                              lambda c=case, i=inputs: run_check(c, limits=limits, inputs=i))
            kron = kron_runs(case, limits)
            rows.append((s * s * case.batch, (s * s * s * case.batch) if kron else 0, seconds))
            if not args.fit:
                whole = best_of(args.reps, lambda c=case: run_check(c, limits=limits))
                est = check_seconds(case, limits)
                print(f"{dtype:9} m=n={s:5}  check {whole:8.3f} s  estimate {est:8.3f} s "
                      f"({est / whole:4.2f}×)  on drawn inputs {seconds:8.3f} s  estimate "
                      f"{compute_seconds(case, limits):8.3f} s  draw estimate "
                      f"{draw_seconds(case):6.3f} s", flush=True)
        if args.fit:
            x = np.array([[1.0, e, k] for e, k, _ in rows])
            y = np.array([t for _, _, t in rows])
            coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            print(f'    "{dtype}": Cost({coef[0]:.3g}, {coef[1]:.3g}, {max(coef[2], 0):.3g}),',
                  flush=True)


def verify_problems(reps: int, fit: bool) -> None:
    """verify of each built-in problem's correct candidate, per dtype, at every size it
    offers: with ``fit``, the least-squares (t0, c) of seconds = t0 + c·sizeᵉ to paste
    into ``problems.cost.VERIFY_COST``; else each estimate beside its time."""
    from gradlab.core.dtypes import DTYPE_NAMES as NAMES
    from gradlab.problems.cost import EXPONENT, verify_seconds
    from gradlab.problems.library import PROBLEMS

    limits = Limits()
    for name, prob in PROBLEMS.items():
        for dtype in NAMES:
            rows = [(size, best_of(reps, lambda p=prob, s=size, d=dtype: p.verify(
                "correct", s, (d,), 0, limits))) for size in prob.sizes]
            if fit:
                x = np.array([[1.0, s ** EXPONENT[name]] for s, _ in rows])
                coef, *_ = np.linalg.lstsq(x, np.array([t for _, t in rows]), rcond=None)
                print(f'    ("{name}", "{dtype}"): ({max(coef[0], 0.009):.3g}, '
                      f"{max(coef[1], 0.0):.3g}),", flush=True)
                continue
            for size, seconds in rows:
                est = verify_seconds(name, (size,), (dtype,))
                print(f"verify {name:13} {dtype:9} size {size:6}  {seconds:7.3f} s  estimate "
                      f"{est:7.3f} s ({est / seconds:4.2f}×)", flush=True)


def probed_problems(reps: int, fit: bool) -> None:
    """verify beside its probe (``verification.cost``) for each built-in problem's
    correct and torch candidates, per dtype, at every size the problem offers: with
    ``fit``, the least-squares t0, c_d and k of seconds = t0 + c_d·probe + k·entries
    (in relative terms, so that the small runs count as much as the large); else each
    estimate beside its time and their ratio."""
    from gradlab.problems.library import PROBLEMS
    from gradlab.verification.cost import Probe, probe, probed_seconds
    from gradlab.verification.run import verify

    limits = Limits()
    rows = []  # (dtype, probe seconds, entries, verify seconds, label)
    for name, prob in PROBLEMS.items():
        for cand in (c for c in prob.candidates if c.kind in ("correct", "kernel")):
            for size in prob.sizes:
                inputs = prob.inputs(size, 0)
                probes = [probe(cand.fn, prob.reference, inputs, DTYPE_NAMES)
                          for _ in range(reps)]
                for dtype in DTYPE_NAMES:
                    sample = Probe({dtype: min(p.seconds[dtype] for p in probes)},
                                   probes[0].entries)
                    seconds = best_of(reps, lambda c=cand, r=prob.reference, i=inputs, d=dtype:
                                      verify(c.fn, r, i, (d,), 0, limits=limits))
                    rows.append((dtype, sample, seconds, f"{name} {cand.name} {size}"))
                    if not fit:
                        est = probed_seconds(sample)
                        print(f"probe {name:13} {cand.name:7} {dtype:9} size {size:6}  probe "
                              f"{sample.seconds[dtype]:7.4f} s  verify {seconds:7.3f} s  estimate "
                              f"{est:7.3f} s ({est / seconds:4.2f}×)", flush=True)
    if fit:
        fit_probe(rows)
    else:
        ratios = [probed_seconds(s) / t for _, s, t, _ in rows]
        print(f"estimate / measured over {len(rows)} runs: {min(ratios):.2f}–"
              f"{max(ratios):.2f}×, median {float(np.median(ratios)):.2f}×")


def fit_probe(rows: list, least: float = 0.05) -> None:
    """c_d = the median of (seconds − t0 − k·entries)/probe_d over the runs of ``least``
    seconds or more (t0 and k as ``verification.cost`` has them); then every run's
    estimate against its time."""
    from gradlab.verification import cost
    from gradlab.verification.cost import Probe, probed_seconds

    for dtype in DTYPE_NAMES:
        ratios = [(t - cost.PROBE_T0 - cost.DRAW_SECONDS * s.entries) / s.seconds[dtype]
                  for d, s, t, _ in rows if d == dtype and t >= least]
        cost.PROBE_COST[dtype] = float(np.median(ratios))
    print("PROBE_COST = {" + ", ".join(f'"{d}": {cost.PROBE_COST[d]:.3g}'
                                       for d in DTYPE_NAMES) + "}")
    for what, kept in (("all", rows), (f"≥ {least} s", [r for r in rows if r[2] >= least])):
        ratios = [probed_seconds(Probe(s.seconds, s.entries)) / t for _, s, t, _ in kept]
        print(f"estimate / measured, {what} ({len(kept)} runs): {min(ratios):.2f}–"
              f"{max(ratios):.2f}×, median {float(np.median(ratios)):.2f}×")
    worst = sorted(rows, key=lambda r: probed_seconds(r[1]) / r[2])
    for dtype, sample, seconds, label in [*worst[:3], *worst[-3:]]:
        print(f"  {label} {dtype}: {seconds:.4f} s, estimate "
              f"{probed_seconds(sample) / seconds:.2f}×")


def explorer(sizes: str, reps: int) -> None:
    """The Explorer page at m = n = sizes (best of ``reps`` warm runs, each a new seed so
    nothing is cached) beside ``dashboard.explorer.page_seconds``."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dashboard" / "app"))
    from apptest_helpers import page

    from dashboard.explorer import ExplorerView, explorer_limits, page_seconds

    seeds = iter(range(100, 10_000))

    def run(size: int) -> float:
        at = page("explorer")
        at.query_params.update({"preset": "0", "m": str(size), "n": str(size),
                                "seed": str(next(seeds))})
        start = time.perf_counter()
        at.run(timeout=600)
        return time.perf_counter() - start

    run(8)  # warm up: imports, the first render
    limits = explorer_limits(Limits())
    for size in (int(s) for s in sizes.split(",")):
        seconds = min(run(size) for _ in range(reps))
        est = page_seconds(ExplorerView(preset=False, m=size, n=size), limits)
        print(f"Explorer m=n={size:5}  page {seconds:6.2f} s  estimate {est:6.2f} s  "
              f"({est / seconds:4.2f}×)", flush=True)


if __name__ == "__main__":
    main()
