"""Time and peak memory per gradient method against size (issue 2's targets).

    python bench/bench_methods.py [--sizes 128,512,1024,2048,4096] [--reps 21]

Times are medians over rounds that interleave the candidates, each run as a
short warm block (see ``median_times``): the machine is shared and noisy, so
ratios are taken within one run, candidate beside candidate.
"a + s + r" is autograd + structured + the reference, each timed on its own;
"check" is a whole ``run_check`` with autograd and structured on inputs
already drawn: both methods, the reference, every metric (errors of all four
gradients, max |Δ|, the ε = 0 residual), κ, notes and verdicts.
Peak memory is the resident high-water mark (VmHWM, reset through
/proc/self/clear_refs after glibc's malloc_trim) above the resident size
before the call. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.core.memory import trim_freed_memory
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.gradients import run_method
from gradlab.problems.seed.inputs import case_inputs
from gradlab.problems.seed.reference import reference_grads


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def peak_mib(fn) -> float:
    """Resident high-water mark of ``fn()`` above the resident size before it."""
    trim_freed_memory()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - before) / 1024


def median_times(fns: dict, reps: int, block: int = 8) -> dict:
    """Median seconds per call of each candidate, all in the same conditions.

    Each round runs every candidate as a block of back-to-back calls, the first
    a warm-up (untimed), so no candidate is always timed right after another
    (a method timed just after autograd pays ~30 µs for autograd's idle wait);
    the rounds interleave the candidates, so drifting load hits all of them.
    """
    samples = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            fn()  # warm-up
            for _ in range(block):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def method_row(size: int, reps: int) -> str:
    case = Case(size, size, dtype="float32")
    inputs = case_inputs(case)
    kron_ok = case.kron_bytes() <= Limits().kron_bytes
    methods = ("autograd", "structured") + (("kron",) if kron_ok else ())
    fns = {name: partial(run_method, name, inputs, "inside") for name in methods}
    fns["reference"] = partial(reference_grads, inputs, "inside")
    fns["check"] = partial(run_check, case, ("autograd", "structured"), inputs=inputs)
    t = median_times(fns, reps)
    peaks = {name: peak_mib(fns[name]) for name in methods}
    kron = (f"{t['kron'] * 1e3:.3g} ms / {peaks['kron']:.1f}" if kron_ok
            else "refused: J over budget")
    return (f"| {size} | {t['autograd'] * 1e3:.3g} ms / {peaks['autograd']:.1f} | "
            f"{t['structured'] * 1e3:.3g} ms / {peaks['structured']:.1f} | {kron} | "
            f"{t['reference'] * 1e3:.3g} ms | {t['check'] * 1e3:.3g} ms | "
            f"{t['structured'] / t['autograd']:.2f} | "
            f"{(t['autograd'] + t['structured'] + t['reference']) / t['autograd']:.2f} | "
            f"{t['check'] / t['autograd']:.2f} |")


def kron_row(size: int) -> str:
    case = Case(size, size, dtype="float32")
    j_mib = case.kron_bytes() / MiB
    try:
        run_check(case, methods=("kron",), kron_over_budget="raise")
    except GradlabError as exc:
        return f"| {size} | {j_mib:.1f} | refused: {exc} | — |"
    peak = peak_mib(partial(run_method, "kron", case_inputs(case), "inside"))
    return f"| {size} | {j_mib:.1f} | {peak:.1f} | {peak / j_mib:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="128,512,1024,2048,4096")
    parser.add_argument("--reps", type=int, default=21)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, batch 1\n")
    print("| m = n | autograd (time / peak MiB) | structured | kron | reference | whole check | "
          "structured ÷ autograd | (a + s + r) ÷ autograd | check ÷ autograd |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        print(method_row(size, args.reps if size <= 1024 else max(5, args.reps // 3)),
              flush=True)
    print("\n| m = n | J = m²n·4 B (MiB) | kron peak MiB | peak ÷ J |")
    print("|---|---|---|---|")
    for size in (64, 128, 256, 320, 400, 512):
        print(kron_row(size), flush=True)


if __name__ == "__main__":
    main()
