"""Fit the seed layer's verdict floors on some seeds, then count false alarms on
seeds the fit never saw.

    python -m bench.calibrate_floor --fit-seeds 0-9 --test-seeds 100-149 [--workers 2]

Every point is a *correct* case (variant none) of ``run_check``, run through
the sweep engine over five grids (``GRIDS``): m = n from 1 to 64 at activation
scales from 1e-4 to 100 (float16 overflows at 100) with ε from 0 to 1, batch 1
and 4; the same at ε = 3 and 10; rectangular m × n; m = n = 128 to 1024; and
m = n = 2048 and 4096; all four dtypes, both placements. The small and ε grids
run every given seed, the others
the first few (``GRIDS``). For each analytic
method that ran and each norm N the excess

    excess_N = (err_N − 2·err_N(autograd)) / u

is what the floor (c_N + b_N·κ_N)·u of ``gradlab.core.dtypes.DTYPES`` must
cover (kron's κ carries its length-m matrix-vector product, and structured's the
tokens' cancellation K, see ``check.method_kappa``). The fit finds, per dtype ×
norm, the least b that covers ``MARGIN`` × every fit excess at the table's c (what
the table takes: c_N comes from verify's problems, which know no κ), and the (c, b)
that would do it with the smallest median floor were c free, and prints them beside
the table's values, with the widest autograd err_N/floor_N (what the envelope must exceed).
The test counts the cases whose verdict is ``fail`` with the table's floors, on
the held-out seeds: for a correct method every one is a false alarm. It also
counts the degenerate verdicts, by reason, and gives the largest held-out excess
in floors.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import torch

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.limits import Limits
from gradlab.problems.seed.check import method_kappa
from gradlab.sweep.executor import Executor
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import run_sweep

ALL = dict(dtypes=DTYPE_NAMES, placements=("inside", "outside"),
           methods=("autograd", "structured", "kron"))
#: name → (the grid without its seeds, how many of the given seeds it runs).
GRIDS = {
    "small": (Sweep(dims=(1, 2, 3, 4, 8, 16, 32, 64), batch=(1, 4),
                    eps=(0.0, 1e-5, 1e-2, 1.0), scales=(1e-4, 1e-2, 1.0, 100.0), **ALL), None),
    # ε up to 10: the normalisation dominated by ε (u = sqrt(mean(a²) + ε) ≈ √ε).
    "eps": (Sweep(dims=(1, 2, 3, 4, 8, 16, 32, 64), batch=(1, 4), eps=(3.0, 10.0),
                  scales=(1e-4, 1e-2, 1.0, 100.0), **ALL), None),
    "rect": (Sweep(m=(1, 2, 7, 64), n=(1, 3, 64, 300), batch=(1, 3), eps=(0.0, 1e-3), **ALL), 10),
    "sizes": (Sweep(dims=(128, 512, 1024), batch=(1, 4), eps=(0.0, 1e-5), **ALL), 10),
    "large": (Sweep(dims=(2048, 4096), eps=(0.0, 1e-5), **{**ALL, "placements": ("inside",),
                                                            "methods": ("autograd", "structured")}),
              3),
}
ANALYTIC = ("structured", "kron")
NORMS = {"max": ("err_u", "kappa", "kappa_tokens"),
         "fro": ("fro_u", "kappa_fro", "kappa_tokens_fro")}
#: The fitted floor covers this multiple of every excess seen on the fit seeds.
MARGIN = 2.0


def seeds(text: str) -> tuple[int, ...]:
    low, _, high = text.partition("-")
    return tuple(range(int(low), int(high or low) + 1))


def run(grids: list[str], seed_values: tuple[int, ...],
        executor: Executor = Executor()) -> pd.DataFrame:
    """Every grid's correct cases on ``seed_values``; ``executor`` may spread them over
    Dask workers, which gives the same numbers (gradlab/sweep/cluster.py)."""
    frames = []
    limits = Limits(max_points=10**7)
    for name in grids:
        grid, count = GRIDS[name]
        sweep = dataclasses.replace(grid, seeds=seed_values[:count])
        start = time.perf_counter()
        frame = run_sweep(sweep, limits, executor=executor)
        frame["grid"] = name
        frames.append(frame)
        print(f"  grid {name}: {len(frame):,} cases in {time.perf_counter() - start:,.0f} s",
              flush=True)
    return pd.concat(frames, ignore_index=True)


def long_form(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (case, analytic method that ran)."""
    parts = []
    for method in ANALYTIC:
        ran = frame[frame[f"{method}_status"] != "skipped"]
        part = pd.DataFrame({"grid": ran["grid"], "dtype": ran["dtype"], "m": ran["m"],
                             "n": ran["n"], "batch": ran["batch"], "eps": ran["eps"],
                             "placement": ran["eps_placement"], "scale": ran["scale"],
                             "seed": ran["seed"], "method": method,
                             "status": ran[f"{method}_status"],
                             "verdict": ran[f"{method}_verdict"]})
        for norm, (col, kappa, tokens) in NORMS.items():
            k = [method_kappa(method, kap, m, d, tok) for kap, m, d, tok in
                 zip(ran[kappa].astype(float), ran["m"], ran["dtype"],
                     ran[tokens].astype(float))]
            part[f"excess_{norm}"] = ran[f"{method}_{col}"] - 2 * ran[f"autograd_{col}"]
            part[f"kappa_{norm}"] = k
            part[f"err_{norm}_u"] = ran[f"{method}_{col}"]
            part[f"base_{norm}_u"] = ran[f"autograd_{col}"]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def fit_floor(excess: np.ndarray, kappa: np.ndarray) -> tuple[float, float]:
    """(c, b) ≥ 0 with c + b·κ_i ≥ MARGIN·excess_i for every i, and the smallest median
    floor c + b·median(κ): a small linear programme.

    For a given b the least c is c(b) = max(0, max_i(MARGIN·excess_i − b·κ_i)), so the
    median floor c(b) + b·median(κ) is convex in b. It rises past b₀ = max_i
    MARGIN·excess_i/κ_i (c is 0 there); a golden-section search on [0, b₀] finds its
    least value.
    """
    need = MARGIN * excess
    kappa_med = float(np.median(kappa))

    def least_c(b: float) -> float:
        return max(0.0, float((need - b * kappa).max()))

    def cost(b: float) -> float:
        return least_c(b) + b * kappa_med

    b0 = max(0.0, float((need / kappa).max()))
    low, high = 0.0, b0
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(200):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if cost(left) <= cost(right):
            high = right
        else:
            low = left
    b = min((0.0, low, b0), key=cost)
    return least_c(b), b


def bound_at(c: float, excess: np.ndarray, kappa: np.ndarray) -> float:
    """The smallest b ≥ 0 with c + b·κ_i ≥ MARGIN·excess_i for every i: the fit with the
    table's c_N, which verify's problems share (they know no κ)."""
    return max(0.0, float(((MARGIN * excess - c) / kappa).max()))


def report_fit(rows: pd.DataFrame) -> None:
    live = rows[(rows["status"] != "degenerate")]
    print(f"\nfit: the floor (c + b·κ)·u that covers {MARGIN:g} × every excess "
          "(err − 2·autograd)/u of a correct method, with the smallest median floor")
    print(f"{'dtype':9s} {'norm':4s} {'c fit':>6s} {'b fit':>6s} {'c now':>6s} {'b now':>6s} "
          f"{'b at c now':>10s} {'median floor':>12s} {'widest env':>10s}  "
          "largest excess/floor now at")
    for dtype in DTYPE_NAMES:
        info = DTYPES[dtype]
        part = live[live["dtype"] == dtype]
        if part.empty:
            continue
        for norm in NORMS:
            kappa = part[f"kappa_{norm}"].to_numpy(float)
            excess = part[f"excess_{norm}"].to_numpy(float)
            ok = np.isfinite(kappa) & np.isfinite(excess)
            c, b = fit_floor(excess[ok], kappa[ok])
            b_now = bound_at(info.floor(norm), excess[ok], kappa[ok])
            floor_now = info.floor_in(norm, kappa)
            ratio = excess / floor_now
            worst = part.iloc[int(np.nanargmax(ratio))]
            widest = np.nanmax(part[f"base_{norm}_u"].to_numpy(float) / floor_now)
            where = (f"{worst['grid']} {worst['method']} m={worst['m']} n={worst['n']} "
                     f"b={worst['batch']} ε={worst['eps']:g} {worst['placement']} "
                     f"scale={worst['scale']:g} seed={worst['seed']} "
                     f"κ={worst[f'kappa_{norm}']:.3g} ({np.nanmax(ratio):.2f} floors)")
            print(f"{dtype:9s} {norm:4s} {c:6.2f} {b:6.3f} {info.floor(norm):6.2f} "
                  f"{info.bound(norm):6.3f} {b_now:10.3f} {np.median(c + b * kappa[ok]):12.2f} "
                  f"{widest:10.2f}  {where}")
    for norm in NORMS:
        k = live[f"kappa_{norm}"].replace(math.inf, np.nan)
        print(f"κ_{norm}: median {k.median():.3g}, 90th percentile {k.quantile(0.9):.3g}, "
              f"max {k.max():.3g}")


def report_test(rows: pd.DataFrame, cases: int) -> None:
    counts = Counter(rows["status"])
    print(f"\ntest: {cases:,} held-out correct cases, {len(rows):,} method verdicts: "
          + ", ".join(f"{counts[s]:,} {s}" for s in ("pass", "fail", "too-coarse", "degenerate")))
    reasons = defaultdict(int)
    for message in rows.loc[rows["status"] == "degenerate", "verdict"]:
        reasons[message.split(";")[0].split("(")[0][:90]] += 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  degenerate {count:6,}  {reason}")
    fails = rows[rows["status"] == "fail"]
    for _, row in fails.head(20).iterrows():
        print(f"  FALSE ALARM {row['dtype']} {row['method']} m={row['m']} n={row['n']} "
              f"b={row['batch']} ε={row['eps']:g} {row['placement']} scale={row['scale']:g} "
              f"seed={row['seed']}: {row['verdict'][:160]}")
    by_dtype = rows.groupby("dtype")["status"].apply(lambda s: (s == "fail").sum())
    print("  false alarms by dtype: " + ", ".join(f"{d} {by_dtype.get(d, 0)}" for d in DTYPE_NAMES))
    live = rows[rows["status"] != "degenerate"]
    for dtype in DTYPE_NAMES:
        part = live[live["dtype"] == dtype]
        if part.empty:
            continue
        info = DTYPES[dtype]
        largest = [float(np.nanmax(part[f"excess_{norm}"]
                                   / info.floor_in(norm, part[f"kappa_{norm}"])))
                   for norm in NORMS]
        print(f"  {dtype}: largest held-out excess, in the table's floors: "
              + ", ".join(f"{norm} {x:.2f}" for norm, x in zip(NORMS, largest)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit-seeds", default="0-9", help="a-b: the seeds the fit sees "
                        "('' to skip the fit)")
    parser.add_argument("--test-seeds", default="", help="held-out seeds, e.g. 100-179")
    parser.add_argument("--grids", default=",".join(GRIDS), help="which grids")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: small cases run fastest without a thread pool, "
                             "and the verdicts do not depend on it)")
    parser.add_argument("--workers", type=int, default=0,
                        help="run the grids on this many local Dask workers (0: in this process)")
    parser.add_argument("--save", default="", help="write the per-method rows to NAME-fit.csv "
                        "and NAME-test.csv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    grids = args.grids.split(",")
    executor = Executor(workers=args.workers)
    start = time.perf_counter()
    if args.fit_seeds:
        print(f"fit seeds {args.fit_seeds}", flush=True)
        fit = long_form(run(grids, seeds(args.fit_seeds), executor))
        report_fit(fit)
        if args.save:
            fit.to_csv(args.save.replace(".csv", "-fit.csv"), index=False)
    if args.test_seeds:
        print(f"\nheld-out seeds {args.test_seeds}", flush=True)
        frame = run(grids, seeds(args.test_seeds), executor)
        test = long_form(frame)
        report_test(test, len(frame))
        if args.save:
            test.to_csv(args.save.replace(".csv", "-test.csv"), index=False)
    print(f"\n{time.perf_counter() - start:,.0f} s in all")


if __name__ == "__main__":
    main()
