"""What verify's real-code machinery costs on rows that pass: the Recorder (a
TorchDispatchMode over the first float64 truth pass) against none, in one process,
interleaved. The allowance itself (kinks, spread) runs only for a dtype with a row
that fails the rule, so a passing row pays the Recorder alone.

    python -m bench.bench_allowance [--reps 3] [--threads 1]

Prints, per built-in problem at its largest size and dtype, verify's median time with
the Recorder and without it, and their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from gradlab.problems.library import PROBLEMS
from gradlab.verification import run as verify_run


class _NoRecorder(contextlib.nullcontext):
    """What verify did before the Recorder: nothing recorded, nothing narrowed."""

    narrowing = None

    def __init__(self):
        super().__init__()

    def length(self, t) -> int:
        return 1

    def pause(self):
        return contextlib.nullcontext()


def timed(problem, dtype: str, recorder) -> float:
    verify_run.Recorder = recorder
    start = time.perf_counter()
    problem.verify("correct", problem.sizes[-1], (dtype,), 0)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    real = verify_run.Recorder
    print("| problem | size | dtype | verify ms, Recorder | verify ms, none | ratio |")
    print("|---|---|---|---|---|---|")
    try:
        for name, problem in PROBLEMS.items():
            for dtype in ("float64", "float32", "bfloat16"):
                timed(problem, dtype, real)                       # warm up
                on, off = [], []
                for _ in range(args.reps):
                    on.append(timed(problem, dtype, real))
                    off.append(timed(problem, dtype, _NoRecorder))
                a, b = statistics.median(on), statistics.median(off)
                print(f"| {name} | {problem.sizes[-1]} | {dtype} | {a * 1e3:.1f} | "
                      f"{b * 1e3:.1f} | {a / b:.2f} |", flush=True)
    finally:
        verify_run.Recorder = real


if __name__ == "__main__":
    main()
