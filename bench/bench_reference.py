"""The float64 case's reference: x87 longdouble against the double-double fallback.

    python -m bench.bench_reference [--sizes 1024,4096] [--batch 1] [--reps 5] [--threads N]

Where numpy's longdouble is float64 itself (Windows, macOS arm64) a float64 case's
reference runs in double-double (gradlab/core/doubledouble.py). This times, on
this machine (where longdouble is x87 80-bit), for a float64 case with m = n:

- ``reference``: ``reference_grads`` alone, in each precision;
- ``+ compare``: the reference and the one blocked pass that compares autograd's
  and structured's dL/dW with it (``weight_metrics``): what a check pays for it;
- ``check``: a whole ``run_check`` (autograd, structured, the reference, every
  metric) with each reference.

Times are medians over rounds that interleave the candidates (``median_times``
of bench/bench_methods.py), so each ratio comes from one run on the shared machine.
``--threads`` sets torch's threads (the comparison pass is torch; both references
are numpy, one thread): on a machine whose cores are busy with other work, torch's
two threads wait for each other, and the comparison pass varied from 0.4 to 5.7 s
at m = n = 1024 with two threads where it took 0.06–0.12 s with one (five calls
of weight_metrics each, in one process).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
from functools import partial

import torch

from bench.bench_methods import median_times
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.gradients import run_method
from gradlab.problems.seed.inputs import case_inputs
from gradlab.problems.seed.metrics import weight_metrics
from gradlab.problems.seed.reference import DOUBLE_DOUBLE, LONGDOUBLE, reference_grads

PRECISIONS = (LONGDOUBLE, DOUBLE_DOUBLE)


def reference_and_compare(inputs, placement, grads, precision):
    ref = reference_grads(inputs, placement, float64_reference=precision)
    return weight_metrics(ref, inputs.W, grads, residual=False)


def check_with(case, inputs, precision):
    """A whole run_check, its reference computed in ``precision``."""
    reference = reference_grads(inputs, case.eps_placement, float64_reference=precision)
    return run_check(case, ("autograd", "structured"), reference=reference, inputs=inputs)


def row(size: int, batch: int, reps: int) -> str:
    case = Case(size, size, batch, "float64", 1e-5)
    inputs = case_inputs(case)
    grads = {name: run_method(name, inputs, case.eps_placement).grads["W"]
             for name in ("autograd", "structured")}
    fns = {}
    for precision in PRECISIONS:
        fns[("reference", precision)] = partial(reference_grads, inputs, case.eps_placement,
                                                float64_reference=precision)
        fns[("compare", precision)] = partial(reference_and_compare, inputs,
                                              case.eps_placement, grads, precision)
        fns[("check", precision)] = partial(check_with, case, inputs, precision)
    t = median_times(fns, reps, block=2)
    cells = []
    for what in ("reference", "compare", "check"):
        long, dd = t[(what, LONGDOUBLE)], t[(what, DOUBLE_DOUBLE)]
        cells.append(f"{long * 1e3:.4g} ms | {dd * 1e3:.4g} ms | {dd / long:.2f}")
    return f"| {size} | {batch} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1024,4096")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, "
          f"ε = 1e-5 inside\n")
    print("| m = n | batch | reference: longdouble | double-double | ratio "
          "| + compare: longdouble | double-double | ratio "
          "| check: longdouble | double-double | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        print(row(size, args.batch, args.reps), flush=True)


if __name__ == "__main__":
    main()
