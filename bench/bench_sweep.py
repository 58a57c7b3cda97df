"""Benchmark the sweep runner on the dashboard's default sweep (432 points).

    python -m bench.bench_sweep [--dims 2,4,…,4096] [--repeat 1]

Each repeat is one ``cached_sweep(Sweep.default())`` from a cold cache, timed
as a whole, with timers wrapped around the pieces it calls, so that every
ratio comes from within one run (a load change on the shared machine hits
both sides of it alike):

- ``total``: the whole sweep (target ≤ 30 s);
- ``bare``: the bare computations at each point: the reference, autograd and
  structured (the methods' own timers, the ``*_seconds`` columns). The reference
  keeps dL/dW as its factors and forms it a block at a time while the metric pass
  compares (``Reference.weight_parts``): that forming is timed as reference too;
- ``run_check rest``: the rest of ``run_check``: the errors against the
  reference, max |Δ|, the scale residual, notes and verdicts;
- ``draw``, ``round``: the float64 draws (once per size and seed) and their
  rounding to each dtype;
- ``runner own``: the rest of ``total``: the loop, rows, progress, the frame.

It prints total / bare (target ≤ 1.20), the runner's own share, the time of a
second identical call (from the cache), and where the time goes per size ×
dtype. With ``--repeat N`` each figure is the median of N runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager

import torch

import gradlab.problems.seed.check as seed_check
import gradlab.sweep.runner as runner
from gradlab.core.limits import Limits
from gradlab.problems.seed.inputs import Inputs
from gradlab.problems.seed.reference import Reference
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import cached_sweep, clear_cache

PARTS = ("draw", "round", "reference", "autograd", "structured", "check rest")


class Timers:
    """Wrap the functions the runner calls; add their wall time to ``parts[(m, dtype, part)]``.

    Only the outermost timed call counts toward its part (a draw inside run_check is
    run_check's), except the reference, which is split out of run_check's time.
    """

    def __init__(self):
        self.parts = defaultdict(float)
        self.key = (0, "all")
        self.depth = 0

    def timed(self, part, fn, key_of=None):
        def wrapper(*args, **kwargs):
            if key_of is not None:
                self.key = key_of(*args)
            outer = self.depth == 0 or part == "reference"
            self.depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if outer:
                    self.parts[(*self.key, part)] += time.perf_counter() - start
        return wrapper

    @contextmanager
    def installed(self):
        saved = (runner.draw, runner.run_check, seed_check.reference_grads,
                 Inputs.to, Reference.weight_parts)
        runner.draw = self.timed("draw", saved[0], lambda m, *a: (m, "all"))
        runner.run_check = self.timed("check", saved[1], lambda case, *a:
                                             (case.m, case.dtype))
        seed_check.reference_grads = self.timed("reference", saved[2])
        Reference.weight_parts = self.timed("reference", saved[4])
        to = saved[3]

        def rounding(inputs, dtype):
            key = self.key
            self.key = (key[0], str(dtype).removeprefix("torch."))
            try:
                return self.timed("round", to)(inputs, dtype)
            finally:
                self.key = key
        Inputs.to = rounding
        try:
            yield self
        finally:
            (runner.draw, runner.run_check, seed_check.reference_grads,
             Inputs.to, Reference.weight_parts) = saved


def one_run(sweep: Sweep) -> dict:
    clear_cache()
    timers = Timers()
    with timers.installed():
        start = time.perf_counter()
        frame = cached_sweep(sweep, Limits(), "cpu")
        total = time.perf_counter() - start
    start = time.perf_counter()
    cached_sweep(sweep, Limits(), "cpu")
    cached = time.perf_counter() - start
    parts = timers.parts
    for (m, dtype), rows in frame.groupby(["m", "dtype"]):
        for name in ("autograd", "structured"):
            parts[m, dtype, name] = float(rows[f"{name}_seconds"].sum())
        parts[m, dtype, "check rest"] = (parts.pop((m, dtype, "check"))
                                         - parts[m, dtype, "reference"]
                                         - parts[m, dtype, "autograd"]
                                         - parts[m, dtype, "structured"])
    sums = {p: sum(v for k, v in parts.items() if k[2] == p) for p in PARTS}
    bare = sums["reference"] + sums["autograd"] + sums["structured"]
    return {"total": total, "cached": cached, "bare": bare, "sums": sums,
            "own": total - sum(sums.values()), "parts": dict(parts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default=None, help="comma list (default: the default's)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sweep = Sweep.default()
    if args.dims:
        sweep = dataclasses.replace(sweep, dims=tuple(int(d) for d in args.dims.split(",")))
    print(f"sweep: {sweep.points} points; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    # Warm up: the first op of each dtype pays one-off costs.
    runner.run_sweep(dataclasses.replace(sweep, dims=(2, 64)))

    runs = [one_run(sweep) for _ in range(args.repeat)]

    def med(get):
        return statistics.median(get(r) for r in runs)

    total, bare, own = med(lambda r: r["total"]), med(lambda r: r["bare"]), med(lambda r: r["own"])
    each = ", ".join(f"{r['total']:.1f}" for r in runs)
    print(f"total: {total:.1f} s (runs: {each}); target ≤ 30 s")
    def each_run(get, fmt="{:.2f}"):
        return "(runs: " + ", ".join(fmt.format(get(r)) for r in runs) + ")"

    print(f"second call (cached): {med(lambda r: r['cached']) * 1e3:.2f} ms")
    print(f"bare (reference + autograd + structured): {bare:.1f} s "
          + each_run(lambda r: r["bare"], "{:.1f}"))
    ratio = med(lambda r: r["total"] / r["bare"])
    print(f"total / bare: {ratio:.2f} " + each_run(lambda r: r["total"] / r["bare"])
          + "; target ≤ 1.20")
    for p in PARTS:
        print(f"  {p:>11}: {med(lambda r, p=p: r['sums'][p]):8.2f} s "
              + each_run(lambda r, p=p: r["sums"][p]))
    print(f"  {'runner own':>11}: {own:8.2f} s "
          f"({med(lambda r: r['own'] / r['total']) * 100:.1f} % of total) "
          + each_run(lambda r: r["own"]))

    print("\nwhere the time goes, per size × dtype (s, summed over the size's points; "
          "draw is per size and seed)")
    print(f"{'m = n':>6} {'dtype':>9} " + " ".join(f"{p:>10}" for p in PARTS)
          + f" {'all':>8}")
    for m in sweep.dims:
        for dt in ["all", *sweep.dtypes]:
            row = [med(lambda r, k=(m, dt, p): r["parts"].get(k, 0.0)) for p in PARTS]
            if not any(row):
                continue
            print(f"{m:>6} {dt:>9} " + " ".join(f"{v:>10.3f}" for v in row)
                  + f" {sum(row):>8.2f}")


if __name__ == "__main__":
    main()
