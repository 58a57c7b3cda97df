"""The default sweep against the naive loop of the same computations (issue 21).

    python -m bench.bench_naive [--rounds 3] [--workers 2] [--threads 1]

The naive loop is what anyone would write to get the same numbers without gradlab's
framework: for each of the default sweep's 432 points (m = n ∈ {2, …, 4096} × four
dtypes × ε ∈ {0, 1e-6, 1e-5} × seeds {0, 1, 2}), the float64 draws (once per size
and seed), rounded to the dtype, autograd's and structured's gradients in the dtype,
the reference from the same rounded inputs, and each method's dL/dW error against it
(max and Frobenius): no verdict, no κ, no rows, no cache, no progress.

Each round runs, alternating, in fresh processes (each pays Python's and torch's
imports alike): the naive loop, ``python -m gradlab sweep`` serially, and (with
``--workers N``) the same on a local Dask cluster of N workers. It prints each
one's median and range over the rounds and the ratios to the naive loop, per round,
beside the targets: serial ≤ 0.6×, ``--workers 2`` ≤ 0.4×.

``--kept`` adds a fourth run, not a target: the naive loop in a process that keeps
its freed memory (``gradlab.core.memory.keep_freed_memory``, which every gradlab
command calls), to show how much of the sweep's lead is the allocator and how much
is the work it does not repeat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The issue's targets: the sweep's time ÷ the naive loop's.
TARGETS = {"serial": 0.6, "workers": 0.4}


def naive_loop(kept: bool = False) -> int:
    """The naive loop over the default sweep's points; returns how many it ran.
    ``kept``: first keep freed memory, as a gradlab command does."""
    import torch

    from gradlab.core.memory import keep_freed_memory

    if kept:
        keep_freed_memory()

    from gradlab.core.dtypes import dtype_info
    from gradlab.problems.seed.gradients import autograd_grads, structured_grads
    from gradlab.problems.seed.inputs import Inputs, draw
    from gradlab.problems.seed.reference import reference_grads
    from gradlab.sweep.grid import Sweep

    sweep = Sweep.default()
    points = 0
    for (m, n) in sweep.sizes():
        for seed in sweep.seeds:
            base = draw(m, n, 1, seed)
            for dtype in sweep.dtypes:
                r = base.to(dtype_info(dtype).torch_dtype)
                for eps in sweep.eps:
                    e = torch.tensor(eps, dtype=torch.float64).to(r.dtype)
                    inputs = Inputs(r.W, r.X, r.g, r.b, e)
                    grads = {"autograd": autograd_grads(*inputs.tensors().values(), e,
                                                        "inside")["W"],
                             "structured": structured_grads(*inputs.tensors().values(), e,
                                                            "inside")["W"]}
                    reference = reference_grads(inputs, "inside")
                    for grad in grads.values():
                        reference.error("W", grad)
                    points += 1
    return points


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2,
                        help="Dask workers for the third run (0: none)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for every run (default: unset)")
    parser.add_argument("--kept", action="store_true",
                        help="also the naive loop keeping its freed memory (not a target)")
    parser.add_argument("--loop", choices=("plain", "kept"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop:
        print(naive_loop(kept=args.loop == "kept"))
        return
    env = {**os.environ}
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    times: dict[str, list[float]] = {"naive": [], "naive, kept": [], "serial": [],
                                     "workers": []}
    loop = [sys.executable, "-m", "bench.bench_naive", "--loop"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "s.csv")
        sweep = [sys.executable, "-m", "gradlab", "sweep", "--no-progress", "--out", out]
        for _ in range(args.rounds):
            times["naive"].append(timed([*loop, "plain"], env))
            if args.kept:
                times["naive, kept"].append(timed([*loop, "kept"], env))
            times["serial"].append(timed(sweep, env))
            if args.workers:
                times["workers"].append(timed([*sweep, "--workers", str(args.workers)], env))
    print("| run | median | range | ÷ naive loop, per round (median) | target |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        if not values:
            continue
        ratios = [v / naive for v, naive in zip(values, times["naive"])]
        target = f"≤ {TARGETS[name]}×" if name in TARGETS else ""
        print(f"| {name} | {statistics.median(values):.1f} s | {min(values):.1f}–"
              f"{max(values):.1f} s | {statistics.median(ratios):.2f}× ({min(ratios):.2f}–"
              f"{max(ratios):.2f}×) | {target} |")
    print(f"\n{args.rounds} rounds, alternating; each run a fresh process.")


if __name__ == "__main__":
    main()
