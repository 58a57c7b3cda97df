"""Data for the verdict floors c_N, from ``gradlab.verify`` on the built-in problems.

    python bench/calibrate_verify.py [--holdout 100] [--threads 1]

Correct candidates (each problem's hand-written backward and torch's kernel) in
float32, bfloat16, float16 and float64: per dtype × norm (max, fro, and scale:
along the truth, not in float64), the largest

    excess = (err_N − 2·autograd_N)/u

(the floor c_N must exceed it for a correct candidate never to fail), over the
fit seeds 0–9 and, apart, the held-out seeds 100 … 100 + --holdout − 1, with
the false alarms (``fail`` rows) the current floors give. Each problem's
smallest size runs every seed; its default size seeds 0–4 and 100–104; its
largest size seeds 0 and 100 (seconds per run). Widths 3 and 4 of LayerNorm,
below the built-in sizes, run every seed and are reported apart.

Planted bugs (the 10 u pattern bug and the 20 u single-entry bug) in float32,
bfloat16 and float16: per problem × dtype, the smallest margin

    margin = max_N (err_N − threshold_N)/u

of a row the bug touches (> 0: the row fails), over seeds 0–4 (0–1 at the
largest size); LayerNorm and the seed layer at every width 64 … 4096, the
other problems at their smallest and default sizes.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict

import pandas as pd
import torch

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.verdict import CHECKS
from gradlab.problems.library import PROBLEMS
from gradlab.verification import verify

HALF = ("float32", "bfloat16", "float16")
NORMS = CHECKS  # max, fro, and scale: along the truth (not in float64)


def correct_runs(holdout: int) -> pd.DataFrame:
    """Every row of every correct candidate's report, with its seed group."""
    fit, held = list(range(10)), list(range(100, 100 + holdout))
    frames = []
    for problem in PROBLEMS.values():
        plan = {problem.sizes[0]: fit + held, problem.default_size: fit[:5] + held[:5],
                problem.sizes[-1]: [0, 100]}
        if problem.name == "layernorm":
            plan.update({3: fit + held, 4: fit + held})
        for size, seeds in plan.items():
            for seed in seeds:
                for cand in problem.of_kind("correct") + problem.of_kind("kernel"):
                    report = verify(cand.fn, problem.reference, problem.inputs(size, seed),
                                    DTYPE_NAMES, seed)
                    frame = report.frame.assign(problem=problem.name, size=size,
                                                candidate=cand.name,
                                                group="fit" if seed < 100 else "held-out")
                    frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def excess_table(rows: pd.DataFrame) -> str:
    lines = ["| dtype | norm | floor c_N | fit: max excess (at) | held-out: max excess (at) | "
             "false alarms fit / held-out (rows) |", "|---|---|---|---|---|---|"]
    for dtype in DTYPE_NAMES:
        sub = rows[rows["dtype"] == dtype]
        for norm in NORMS:
            cells = []
            for group in ("fit", "held-out"):
                g = sub[sub["group"] == group]
                excess = ((g[f"err_{norm}"] - 2 * g[f"autograd_{norm}"]) / g["u"]).dropna()
                if excess.empty:
                    cells.append("—")
                    continue
                worst = excess.idxmax()
                at = g.loc[worst]
                cells.append(f"{excess.max():.2f} ({at['problem']} {at['candidate']} "
                             f"{at['size']} {at['input']} seed {at['seed']})")
            alarms = [int(((sub["group"] == grp) & (sub["status"] == "fail")).sum())
                      for grp in ("fit", "held-out")]
            counts = [int((sub["group"] == grp).sum()) for grp in ("fit", "held-out")]
            lines.append(f"| {dtype} | {norm} | {DTYPES[dtype].floor(norm):g} | {cells[0]} | "
                         f"{cells[1]} | {alarms[0]} / {alarms[1]} (of {counts[0]} / "
                         f"{counts[1]}) |")
    return "\n".join(lines)


def planted_margins() -> str:
    margins = defaultdict(lambda: (math.inf, ""))
    for problem in PROBLEMS.values():
        sizes = ((64, 256, 1024, 4096) if problem.name in ("seed", "layernorm")
                 else (problem.sizes[0], problem.default_size))
        for size in sizes:
            seeds = range(2) if size == problem.sizes[-1] else range(5)
            for seed in seeds:
                for bug in ("pattern", "single-entry"):
                    frame = problem.verify(bug, size, HALF, seed).frame
                    touched = frame[frame["bug_effect_max"] > 0]
                    for _, row in touched.iterrows():
                        margin = max((row[f"err_{n}"] - row[f"threshold_{n}"]) / row["u"]
                                     for n in NORMS if math.isfinite(row[f"err_{n}"]))
                        key = (problem.name, bug, row["dtype"])
                        if margin < margins[key][0]:
                            margins[key] = (margin, f"{size} {row['input']} seed {seed} "
                                                    f"({row['status']})")
    lines = ["| problem | bug | dtype | smallest margin (u) | at |", "|---|---|---|---|---|"]
    for (name, bug, dtype), (margin, at) in margins.items():
        lines.append(f"| {name} | {bug} | {dtype} | {margin:.2f} | {at} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--holdout", type=int, default=100, help="held-out seeds from 100")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start, cpu = time.perf_counter(), time.process_time()
    rows = correct_runs(args.holdout)
    small = rows["size"] < 8
    built_in = rows[~small]
    print(f"Correct candidates: {len(built_in)} rows (built-in sizes); excess = "
          "(err − 2·autograd)/u\n")
    print(excess_table(built_in))
    print(f"\nLayerNorm widths 3 and 4 (below the built-in sizes): {int(small.sum())} rows\n")
    print(excess_table(rows[small]))
    print("\nPlanted bugs (10 u pattern, 20 u single entry): margin = max_N (err − threshold)/u "
          "of the rows the bug touches\n")
    print(planted_margins())
    print(f"\nruntime {time.perf_counter() - start:.0f} s wall, "
          f"{time.process_time() - cpu:.0f} s CPU, {args.threads} torch thread(s)")


if __name__ == "__main__":
    main()
