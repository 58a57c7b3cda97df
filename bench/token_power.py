"""What counting the tokens' cancellation in structured's κ costs: its verdicts on the
bug zoo and its thresholds on correct cases, with L = ``check.TOKEN_ROUNDINGS`` and
with L = 0 (κ alone), in one process.

    python -m bench.token_power [--seeds 0-2]

For m = n in (1, 2, 4, 16, 64, 256), batch 1 and 4, every dtype, ε in (0, 1e-5, 1e-2,
1, 10), both placements and each seed: ``run_check`` of structured on the correct
derivation and on each bug-zoo variant. It prints, per batch and dtype, the median and
largest ratio of a correct case's threshold with L to without (max-norm, normwise),
the variants' verdicts with L, and every verdict that L changed (docs/verdict.md,
"Where the tokens' terms cancel").
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections import Counter, defaultdict

import torch

from bench.calibrate_floor import seeds as parse_seeds
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.problems.seed import check as seed_check
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.gradients import VARIANTS

DIMS = (1, 2, 4, 16, 64, 256)
EPS = (0.0, 1e-5, 1e-2, 1.0, 10.0)


def judged(cases, rounds: float) -> dict:
    """(case, variant) → (status, max-norm threshold, normwise threshold) of structured,
    with TOKEN_ROUNDINGS = ``rounds``."""
    kept, seed_check.TOKEN_ROUNDINGS = seed_check.TOKEN_ROUNDINGS, rounds
    try:
        out = {}
        for case, variant in cases:
            v = seed_check.run_check(case, methods=("structured",),
                                     variant=variant).verdicts["structured"]
            out[case, variant] = (v.status, v.threshold_in("max") if v.checks else None,
                                  v.threshold_in("fro") if v.checks else None)
        return out
    finally:
        seed_check.TOKEN_ROUNDINGS = kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0-2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    variants = (None, *(v for v in VARIANTS if v != "none"))
    cases = [(Case(m, m, batch, dtype, eps=eps, eps_placement=placement, seed=seed), variant)
             for m, batch, dtype, eps, placement, seed in itertools.product(
                 DIMS, (1, 4), DTYPE_NAMES, EPS, ("inside", "outside"),
                 parse_seeds(args.seeds))
             for variant in variants]
    rounds = seed_check.TOKEN_ROUNDINGS
    with_l, without = judged(cases, rounds), judged(cases, 0.0)
    ratios, statuses, changed = defaultdict(list), Counter(), []
    for (case, variant), (status, t_max, t_fro) in with_l.items():
        before = without[case, variant]
        statuses[case.batch, variant or "none", status] += 1
        if status != before[0]:
            changed.append((case, variant, before[0], status))
        if variant is None and t_max is not None and before[1] is not None:
            ratios[case.batch, case.dtype].append((t_max / before[1], t_fro / before[2]))
    print(f"structured, L = {rounds:g} against L = 0: {len(cases):,} verdicts each")
    print("threshold with L ÷ without, correct cases: median and largest (max-norm; normwise)")
    for (batch, dtype), pairs in sorted(ratios.items()):
        mx, fr = zip(*pairs)
        print(f"  batch {batch} {dtype:9} {statistics.median(mx):.3f}, {max(mx):.3f}; "
              f"{statistics.median(fr):.3f}, {max(fr):.3f}")
    print("verdicts with L (batch, variant, status: count)")
    for key, count in sorted(statuses.items()):
        print(f"  {key[0]} {key[1]:14} {key[2]:11} {count:5,}")
    print(f"{len(changed)} verdicts changed by L:")
    for case, variant, before, after in changed:
        print(f"  m = n = {case.m}, batch {case.batch}, {case.dtype}, ε = {case.eps:g} "
              f"{case.eps_placement}, seed {case.seed}, {variant or 'none'}: "
              f"{before} → {after}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
