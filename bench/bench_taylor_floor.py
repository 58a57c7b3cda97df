"""What the Taylor test's forwards alone cost float64 verify, against its least ratio.

    python -m bench.bench_taylor_floor [--reps 3] [--threads 1] [--problems all|NAMES]

verify's float64 target (issue 21) is at most FLOAT64_TARGET × its least ratio
(``bench_verify``: the candidate's forward + backward, the reference's float64 and
float32 passes and the draws), and the Taylor test's forwards of the candidate are
not in that least ratio: they must fit in what the target leaves. Per built-in
problem at its largest size and per candidate, in float64, each round:

- verify, the median of three calls in a row, with the candidate wrapped so that
  every call made without autograd (the Taylor test's forwards: the joint test's
  probe and steps, each input's own step, any own ladder) is counted and timed;
- the least ratio's passes and draws, as ``bench_verify`` times them.

Printed per row: the Taylor forwards of one verify, one forward's median ms, those
forwards' time ÷ the least ratio's time (the least the Taylor test adds, whatever
verify does around it), verify ÷ least, and verify without those forwards ÷ least
(the rule's part and every overhead). Where the first column is near 1, a row
meets FLOAT64_TARGET only if everything else costs no more than the least ratio
itself. Medians (ranges) over ``--reps`` rounds; the machine is shared: ratios are
taken within one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from bench.bench_verify import (
    FLOAT64_TARGET,
    draws,
    forward_backward,
    least_passes,
    seconds,
    spread,
)
from gradlab.core.memory import keep_freed_memory
from gradlab.core.provenance import provenance
from gradlab.problems.library import PROBLEMS
from gradlab.problems.registry import Problem
from gradlab.verification import verify

__all__ = ["Counted", "floor_rows", "main"]


class Counted:
    """``fn``, counting and timing the calls made without autograd (``seconds``,
    ``calls``), which in verify are the Taylor test's forwards."""

    def __init__(self, fn):
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, *args):
        if torch.is_grad_enabled():
            return self.fn(*args)
        start = time.perf_counter()
        try:
            return self.fn(*args)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def floor_rows(problem: Problem, reps: int) -> list[str]:
    size = problem.sizes[-1]
    inputs = problem.inputs(size)
    rows = []
    for candidate in ("correct", "torch"):
        fn = Counted(problem.candidate(candidate).fn)
        ref = [forward_backward(problem, problem.reference, size, d)
               for d in least_passes("float64")] + [draws(problem, size, "float64")]
        fb = forward_backward(problem, fn, size, "float64")
        check = partial(verify, fn, problem.reference, inputs, ("float64",))
        fb(), check(), [r() for r in ref]  # warm-up
        share, whole, rest, forwards, one = [], [], [], [], []
        for _ in range(reps):
            least = (statistics.median(seconds(fb) for _ in range(3))
                     + sum(statistics.median(seconds(r) for _ in range(3)) for r in ref))
            calls = []
            for _ in range(3):
                fn.calls, fn.seconds = 0, 0.0
                calls.append((seconds(check), fn.seconds, fn.calls))
            total, taylor, count = sorted(calls)[1]
            share.append(taylor / least)
            whole.append(total / least)
            rest.append((total - taylor) / least)
            forwards.append(count)
            one.append(taylor / count if count else 0.0)
        rows.append(f"| {problem.name} | {size} | {candidate} | {statistics.median(forwards):g} | "
                    f"{statistics.median(one) * 1e3:.3g} | {spread(share)} | {spread(whole)} | "
                    f"{spread(rest)} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, as the verify table is measured)")
    parser.add_argument("--problems", default="all", help="comma list of problem names, or all")
    args = parser.parse_args()
    keep_freed_memory()   # as a `gradlab verify` command does (bench_verify --kept)
    torch.set_num_threads(args.threads)
    names = list(PROBLEMS) if args.problems == "all" else args.problems.split(",")
    unknown = [n for n in names if n not in PROBLEMS]
    if unknown:
        parser.error(f"--problems: unknown problem {unknown[0]!r} (known: {', '.join(PROBLEMS)})")
    p = provenance()
    print(f"torch {p['torch_version']} · {p['threads']} threads · {p['timestamp']} · "
          f"float64, target ≤ {FLOAT64_TARGET:g} × the least ratio\n")
    print("| problem | size | candidate | Taylor forwards | one forward ms | "
          "the forwards ÷ least: median (range) | verify ÷ least | "
          "verify without the forwards ÷ least |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        floor_rows(PROBLEMS[name], args.reps)


if __name__ == "__main__":
    main()
