"""Measure the verdict floor c: how far a correct method's error can exceed
2× autograd's, in units of s·u (s = κ(1 + √m·u_acc/u), metrics.floor_scale),
over seeds × sizes × ε × placement × batch.

    python bench/calibrate_floor.py [--seeds 10]

Prints, per dtype, the largest (err_method − 2·err_autograd)/(s·u) seen
(the floor c must sit above it), the largest err_u/s of any method (the
test envelope must sit above it), and the median and max of err_u per method.
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict

import numpy as np

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.metrics import floor_scale


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", default="2,3,8,32,128,512,1024")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    excess = defaultdict(list)
    envelope = defaultdict(list)
    err_u = defaultdict(list)
    for dtype, size, batch, eps, placement, seed in itertools.product(
            DTYPE_NAMES, sizes, (1, 4), (0.0, 1e-5), ("inside", "outside"), range(args.seeds)):
        check = run_check(Case(size, size, batch, dtype, eps, placement, seed=seed))
        auto = check.errors["autograd"]["W"].err_u
        err_u[dtype, "autograd"].append(auto)
        scale = floor_scale(size, check.kappa, dtype)
        for name in check.runs:
            envelope[dtype].append((check.errors[name]["W"].err_u / scale, name, size, batch,
                                    eps, placement, seed))
        for name in check.verdicts:
            e = check.errors[name]["W"].err_u
            err_u[dtype, name].append(e)
            excess[dtype].append(((e - 2 * auto) / scale, name, size, batch, eps, placement,
                                  seed))
    for dtype in DTYPE_NAMES:
        worst = max(excess[dtype])
        print(f"{dtype:9s} worst excess {worst[0]:6.2f} s·u  at {worst[1:]}")
        widest = max(envelope[dtype])
        print(f"{'':9s} widest err_u/s {widest[0]:6.2f}  at {widest[1:]}")
        for method in ("autograd", "structured", "kron"):
            values = np.array(err_u[dtype, method])
            print(f"    {method:10s} err_u median {np.median(values):6.2f}"
                  f"  max {values.max():6.2f}")


if __name__ == "__main__":
    main()
