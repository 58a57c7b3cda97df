"""One seed-layer check against a bare autograd of the same layer, and where its time goes.

    python -m bench.bench_check [--size 2048] [--rounds 7] [--threads 1]

In one process, alternating rounds (the machine is shared and noisy), per dtype
(float32, float64, bfloat16) at m = n = size, batch 1:

- ``check``: ``run_check(Case(m, n, dtype=…))`` from the seed, draws included (every
  method; kron is over its budget past m = n = 256 and skipped);
- ``autograd``: one bare forward + backward of the layer in the dtype
  (``gradients.autograd_grads``) on the same inputs, already drawn and rounded;
- the check's parts: the float64 draw, the rounding to the dtype, the reference, the
  methods (autograd and structured) and the dL/dW metric pass (``weight_metrics``).

It prints each figure's median and range over the rounds, the ratio check/autograd
(the medians' ratio, the range of the per-round ratios, and the check's median over
the fastest bare autograd: a fresh dL/dW sometimes faults its pages in and sometimes
reuses the heap, 4 against 15 ms in float32 here) beside the target of ≤ 8×,
and the metric pass beside its physical floor: one read of W and of each method's
dL/dW (in the dtype) at the memory bandwidth, measured here by a torch sum over a
float64 array of m·n entries. The draw (numpy's SFC64 stream and gradlab's block
ziggurat, ``core.normals``) is shown beside the earlier schemes on the same sizes:
numpy's own ziggurat on the same stream (``numpy-sfc64``) and torch's seeded float64
``randn`` into numpy's memory (``torch-randn``); docs/benchmarks.md, "One seed-layer
check against a bare autograd".
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gradlab.core.dtypes import dtype_info
from gradlab.core.limits import Limits
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check, run_methods
from gradlab.problems.seed.gradients import METHODS, autograd_grads
from gradlab.problems.seed.inputs import case_inputs, draw, draw_numpy_sfc64, draw_torch_randn
from gradlab.problems.seed.metrics import weight_metrics
from gradlab.problems.seed.reference import reference_grads

DTYPES = ("float32", "float64", "bfloat16")
TARGET = 8.0


def timed(call):
    """(seconds, result) of ``call()``."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def seconds(call) -> float:
    return timed(call)[0]


def one_round(size: int, times: dict, limits: Limits) -> None:
    """Every figure once, dtype after dtype, each appended to ``times``."""
    m = n = size
    big = torch.ones(m, n, dtype=torch.float64)

    def add(key, value):
        times.setdefault(key, []).append(value)

    add(("all", "bandwidth read"), seconds(lambda: big.sum()))
    add(("all", "draw"), seconds(lambda: draw(m, n, 1, 0)))
    add(("all", "draw: numpy-sfc64 (before)"), seconds(lambda: draw_numpy_sfc64(m, n, 1, 0)))
    add(("all", "draw: torch-randn (earlier)"), seconds(lambda: draw_torch_randn(m, n, 1, 0)))
    base = draw(m, n, 1, 0)
    for dtype in DTYPES:
        case = Case(m, n, dtype=dtype)
        torch_dtype = dtype_info(dtype).torch_dtype
        inputs = case_inputs(case)
        args = (inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps, case.eps_placement)
        add((dtype, "check"), seconds(lambda c=case: run_check(c, limits=limits)))
        add((dtype, "autograd"), seconds(lambda a=args: autograd_grads(*a)))
        add((dtype, "rounding"), seconds(lambda t=torch_dtype: base.to(t)))
        spent, ref = timed(lambda i=inputs, c=case: reference_grads(i, c.eps_placement))
        add((dtype, "reference"), spent)
        spent, runs = timed(lambda c=case, i=inputs: run_methods(c, METHODS, None, limits,
                                                                 "skip", i)[0])
        add((dtype, "methods"), spent)
        grads = {name: run.grads["W"] for name, run in runs.items()}
        add((dtype, "weight_metrics"), seconds(
            lambda r=ref, i=inputs, g=grads: weight_metrics(r, i.W, g, residual=True)))
        add((dtype, "ratio"), times[(dtype, "check")][-1] / times[(dtype, "autograd")][-1])


def ms(values) -> str:
    return (f"{statistics.median(values) * 1e3:8.2f} ms "
            f"({min(values) * 1e3:.2f}–{max(values) * 1e3:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    limits = Limits()
    size = args.size
    run_check(Case(64, 64), limits=limits)  # warm up
    one_round(size, {}, limits)  # warm up at size (first-touch of the heap)
    times: dict = {}
    for _ in range(args.rounds):
        one_round(size, times, limits)
    med = {key: statistics.median(v) for key, v in times.items()}
    print(f"m = n = {size}, batch 1, {args.threads} torch thread(s), {args.rounds} rounds: "
          f"median (range)")
    rate = size * size * 8 / med[("all", "bandwidth read")]
    print(f"  memory bandwidth (torch sum of {size}×{size} float64): {rate / 1e9:.1f} GB/s")
    for name in ("draw", "draw: numpy-sfc64 (before)", "draw: torch-randn (earlier)"):
        print(f"  {name:36} {ms(times[('all', name)])}  "
              f"{med[('all', name)] / (size * size) * 1e9:5.1f} ns an entry")
    for dtype in DTYPES:
        itemsize = dtype_info(dtype).bits // 8
        floor = 3 * size * size * itemsize / rate  # W, autograd's and structured's dL/dW
        ratio = med[(dtype, "check")] / med[(dtype, "autograd")]
        rounds = times[(dtype, "ratio")]
        verdict = "met" if ratio <= TARGET else "not met"
        print(f"{dtype}:")
        print(f"  check          {ms(times[(dtype, 'check')])}")
        print(f"  bare autograd  {ms(times[(dtype, 'autograd')])}")
        fastest = med[(dtype, "check")] / min(times[(dtype, "autograd")])
        print(f"  ratio          {ratio:6.1f}× (per round {min(rounds):.1f}–{max(rounds):.1f}×; "
              f"{fastest:.1f}× the fastest bare autograd), target ≤ {TARGET:g}×: {verdict}")
        for part in ("rounding", "reference", "methods", "weight_metrics"):
            print(f"  {part:14} {ms(times[(dtype, part)])}")
        print(f"  weight_metrics floor (one read of W and 2 dL/dW): {floor * 1e3:.2f} ms, "
              f"{med[(dtype, 'weight_metrics')] / floor:.0f}× it")


if __name__ == "__main__":
    main()
