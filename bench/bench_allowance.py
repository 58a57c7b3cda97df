"""What verify's real-code machinery costs, in one process, interleaved.

    python -m bench.bench_allowance [--reps 3] [--threads 1] [--failing-only]

1. Rows that pass: the Recorder (a TorchDispatchMode over the first float64 truth
   pass) against none. The allowance itself (kinks, the rounding-move pairs, the
   spread) runs only for a dtype with a row that fails the rule, so a passing row
   pays the Recorder alone. Per built-in problem at its largest size and dtype.
2. Rows that fail the rule (real code where the allowance decides): verify with the
   allowance against verify with the rule alone (``_Run.allowance`` returning None,
   what verify did before issue 18), on corpus entries whose rows the allowance
   turns into passes: kinks, entries within rounding of a kink, long sums, κ.
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

    def __init__(self, lengths: bool = True):
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


#: (corpus op, entry, dtype, seed): rows the allowance decides.
FAILING = (("nn.functional.adaptive_max_pool2d", "nn.functional.adaptive_max_pool2d#8",
            "bfloat16", 0),                                    # ties: kinks
           ("grid_sampler_2d", "grid_sampler_2d#1", "bfloat16", 1),   # within rounding
           ("kernel.sparsemax", "kernel.sparsemax", "bfloat16", 1),   # within rounding
           ("kernel.sequential_linear", "kernel.sequential_linear", "float32", 0),  # sums
           ("nn.functional.scaled_dot_product_attention",
            "nn.functional.scaled_dot_product_attention#8", "float32", 0),       # sums
           ("kernel.blockwise_attention.ill_conditioned",
            "kernel.blockwise_attention.ill_conditioned", "float64", 0))         # κ


def failing_rows(reps: int) -> None:
    import gradlab
    from gradlab.corpus.build import op_corpus

    real = verify_run._Run.allowance
    print("\n| entry | dtype | seed | verify ms, allowance | verify ms, rule alone | ratio "
          "| statuses with / without |")
    print("|---|---|---|---|---|---|---|")
    try:
        for op, name, dtype, seed in FAILING:
            entry = {e.name: e for e in op_corpus(op, seed)[0]}.get(name)
            if entry is None:
                print(f"| {name} | {dtype} | {seed} | (not built here) | | | |")
                continue

            def once(allow, entry=entry, dtype=dtype, seed=seed):
                verify_run._Run.allowance = allow
                start = time.perf_counter()
                report = gradlab.verify(entry.candidate, entry.reference, entry.inputs,
                                        (dtype,), seed)
                return time.perf_counter() - start, {r["status"] for r in report.rows}

            once(real)  # warm up
            on, off = [], []
            for _ in range(reps):
                t, with_ = once(real)
                on.append(t)
                t, without = once(lambda *a, **k: None)
                off.append(t)
            a, b = statistics.median(on), statistics.median(off)
            print(f"| {name} | {dtype} | {seed} | {a * 1e3:.0f} | {b * 1e3:.0f} | {a / b:.2f} "
                  f"| {', '.join(sorted(with_))} / {', '.join(sorted(without))} |", flush=True)
    finally:
        verify_run._Run.allowance = real


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--failing-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.failing_only:
        failing_rows(args.reps)
        return
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
    failing_rows(args.reps)


if __name__ == "__main__":
    main()
