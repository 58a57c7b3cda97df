"""The seed layer's verdict in one corner, over many seeds: m = n = 1, batch 4.

    python -m bench.corner_floor [--seeds 100-399] [--draws SCHEME]

There dL/dW is one number, the sum of four tokens' terms of either sign, and each
term carries every rounding of structured's per-token chain (u, 1/u, â, v, dg, the
projection, the product by 1/u and by x). The held-out run of
``bench/calibrate_floor.py`` found its false alarms there (docs/verdict.md, "A known
gap"). For each dtype, placement, ε in (1e-5, 1e-2, 1, 3, 10), scale in (1e-4, 1e-2,
1) and seed, one correct ``run_check`` of structured; it prints, per dtype, the cases
judged (pass or fail), the fails (every one a false alarm), the largest excesses
(err − 2·err_autograd)/u over κ and over the floor (c_max + b_max·κ), and the worst
case. ``--draws numpy-sfc64`` or ``torch-randn`` (the default: gradlab-ziggurat) draws
the inputs as gradlab did before (``inputs.SCHEMES``), to tell a property of the
verdict from one of the draws.

It also sizes structured's κ (``check.method_kappa``): κ + L·(K − 1), with K =
Σ_t |row_t x_t| / |dL/dW| the tokens' own cancellation (``Reference.token_condition``),
and prints the least L with which the max-norm floor c + b·(κ + L·(K − 1)), at the
table's c and b, covers twice every excess here, beside the L in use
(``check.TOKEN_ROUNDINGS``). Excesses in floors are against the floor the verdict
applied.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import NamedTuple

import torch

from bench.calibrate_floor import seeds as parse_seeds
from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.problems.seed.case import DRAWS, Case
from gradlab.problems.seed.check import TOKEN_ROUNDINGS, method_kappa, run_check
from gradlab.problems.seed.inputs import SCHEMES, case_draws, case_inputs

EPS = (1e-5, 1e-2, 1.0, 3.0, 10.0)
SCALES = (1e-4, 1e-2, 1.0)


class Judged(NamedTuple):
    """One judged case: its excess over κ and over the max-norm floor first (the sort)."""

    per_kappa: float
    in_floors: float
    status: str
    placement: str
    eps: float
    scale: float
    seed: int
    kappa: float
    excess: float
    k_row: float


def inputs_for(case: Case, draws: str):
    """The case's rounded inputs on an earlier scheme's draws, or None for the current ones."""
    if draws == DRAWS:
        return None
    return case_inputs(case, base=case_draws(case, draws))


def least_l(rows: list[Judged], dtype: str) -> float:
    """The least L ≥ 0 with c + b·(κ + L·(K − 1)) ≥ 2·excess in every row (max-norm);
    inf where a row with K ≤ 1, which no L reaches, is not covered by c + b·κ."""
    info = DTYPES[dtype]
    c, b = info.floor("max"), info.bound("max")
    if any(r.k_row <= 1 and c + b * r.kappa < 2 * r.excess for r in rows):
        return math.inf
    return max([0.0, *(((2 * r.excess - c) / b - r.kappa) / (r.k_row - 1) for r in rows
                        if r.k_row > 1)])


def corner(dtype: str, seeds, draws: str) -> list[Judged]:
    """Every judged case (pass or fail) of the corner in ``dtype``."""
    info, rows = DTYPES[dtype], []
    for placement in ("inside", "outside"):
        for eps in EPS:
            for scale in SCALES:
                for seed in seeds:
                    case = Case(1, 1, batch=4, dtype=dtype, eps=eps, eps_placement=placement,
                                scale=scale, seed=seed)
                    check = run_check(case, methods=("structured",),
                                      inputs=inputs_for(case, draws))
                    verdict = check.verdicts["structured"]
                    if verdict.status not in ("pass", "fail"):
                        continue
                    excess = (check.errors["structured"]["W"].err_u
                              - 2 * check.errors["autograd"]["W"].err_u)
                    kappa, k_row = check.kappa, check.kappa_tokens
                    floor = info.floor_in("max", method_kappa("structured", kappa, 1, dtype,
                                                              k_row))
                    rows.append(Judged(excess / kappa, excess / floor, verdict.status,
                                       placement, eps, scale, seed, kappa, excess, k_row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="100-399")
    parser.add_argument("--draws", default=DRAWS, choices=tuple(SCHEMES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = parse_seeds(args.seeds)
    start = time.perf_counter()
    print(f"m = n = 1, batch 4, structured; seeds {args.seeds}, draws {args.draws}")
    for dtype in DTYPE_NAMES:
        rows = sorted(corner(dtype, seeds, args.draws), reverse=True)
        fails = sum(r.status == "fail" for r in rows)
        by_floor = sorted((r.in_floors for r in rows), reverse=True)
        print(f"{dtype:9} {len(rows):6,} judged, {fails} fail; largest excess/κ "
              f"{', '.join(f'{r.per_kappa:.2f}' for r in rows[:3])}; largest excess/floor "
              f"{', '.join(f'{x:.2f}' for x in by_floor[:3])}")
        if rows:
            w = rows[0]
            print(f"          worst excess/κ: {w.status}, ε = {w.eps:g} {w.placement}, scale "
                  f"{w.scale:g}, seed {w.seed}, κ = {w.kappa:.3g} ({w.in_floors:.2f} floors)")
            print(f"          κ + L·(K − 1) covers twice every excess from L = "
                  f"{least_l(rows, dtype):.1f} (in use: {TOKEN_ROUNDINGS:g})")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
