"""The smallest planted bug each check catches, on the same functions and draws.

    python bench/bench_sensitivity.py [--width 1024] [--seeds 0,1,2] [--threads 1]

A hand-written LayerNorm backward (gradlab/problems/layernorm.py), x of 16 rows ×
``--width``, gets the planted bugs of gradlab/problems/planted.py at size K·u,
u = 2⁻²⁴ (float32's unit roundoff) relative:

- pattern: every input's gradient scaled by (1 + K·u);
- single entry: the largest entry of ∂x moved by K·u·max|∂x|.

For each check the table gives the smallest K on a doubling ladder that it
catches on every seed, and whether it raises a false alarm on the correct
backward (K = 0):

- gradlab: ``gradlab.verify`` in float32 (any row not ``pass``);
- torch.testing.assert_close with its float32 defaults (rtol 1.3e-6, atol 1e-5),
  the kernel's gradients against the reference's, both in float32;
- the same with Liger-Kernel's float32 tolerance (atol 1e-4, rtol 1e-6);
- torch.autograd.gradcheck (float64, fast mode, its defaults atol 1e-5, rtol
  1e-3) on 4 rows × 32, where the bug is the same relative size K·u.
"""

from __future__ import annotations

import argparse
import time

import torch

from gradlab.problems import planted
from gradlab.problems.layernorm import LayerNorm, reference
from gradlab.verification import verify

U32 = 2.0**-24
#: K in units of float32's u: doubling from 1 to 2²⁴ (a relative bug of 1).
LADDER = tuple(2.0**k for k in range(25))


def correct(x, w, b):
    return LayerNorm.apply(x, w, b)


def plant(kind: str, k: float):
    """The correct backward with a bug of K·u (float32's u, whatever dtype runs it)."""
    if k == 0:
        return correct
    if kind == "pattern":
        return planted.pattern(correct, k, U32)
    return planted.single_entry(correct, 0, k, U32)


def draw(width: int, seed: int, rows: int = 16, dtype=torch.float32) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, width, generator=gen, dtype=torch.float64)
    w = torch.randn(width, generator=gen, dtype=torch.float64)
    b = torch.randn(width, generator=gen, dtype=torch.float64)
    up = torch.randn(rows, width, generator=gen, dtype=torch.float64)
    return tuple(t.to(dtype) for t in (x, w, b, up))


def grads(fn, x, w, b, up) -> tuple:
    leaves = [t.detach().requires_grad_(True) for t in (x, w, b)]
    return torch.autograd.grad(fn(*leaves), leaves, up)


def gradlab_catches(fn, width: int, seed: int) -> bool:
    x, w, b, _ = draw(width, seed, dtype=torch.float64)
    report = verify(fn, reference, {"x": x, "weight": w, "bias": b}, ("float32",), seed)
    return not report.passed


def close_catches(rtol: float, atol: float):
    def catches(fn, width: int, seed: int) -> bool:
        x, w, b, up = draw(width, seed)
        try:
            for got, want in zip(grads(fn, x, w, b, up), grads(reference, x, w, b, up)):
                torch.testing.assert_close(got, want, rtol=rtol, atol=atol)
        except AssertionError:
            return True
        return False
    return catches


def gradcheck_catches(fn, width: int, seed: int) -> bool:
    x, w, b, _ = draw(32, seed, rows=4, dtype=torch.float64)
    leaves = [t.requires_grad_(True) for t in (x, w, b)]
    return not torch.autograd.gradcheck(fn, leaves, fast_mode=True, raise_exception=False)


CHECKS = {
    "gradlab verify (float32)": gradlab_catches,
    "assert_close float32 defaults (rtol 1.3e-6, atol 1e-5)": close_catches(1.3e-6, 1e-5),
    "Liger-Kernel's float32 tolerance (atol 1e-4, rtol 1e-6)": close_catches(1e-6, 1e-4),
    "gradcheck (float64, fast mode)": gradcheck_catches,
}


def smallest(catches, kind: str, width: int, seeds) -> float:
    """The smallest K of the ladder caught on every seed (inf: none)."""
    for k in LADDER:
        if all(catches(plant(kind, k), width, seed) for seed in seeds):
            return k
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    print(f"LayerNorm, x 16×{args.width} (gradcheck: 4×32), seeds {seeds}; bugs in units of "
          "float32's u = 2⁻²⁴ (relative)\n")
    print("| check | smallest pattern bug caught | smallest single-entry bug caught | "
          "false alarms on the correct backward |")
    print("|---|---|---|---|")
    for name, catches in CHECKS.items():
        cells = []
        for kind in ("pattern", "single-entry"):
            k = smallest(catches, kind, args.width, seeds)
            cells.append("never (up to 2²⁴ u)" if k == float("inf") else
                         f"{k:,.0f} u ({k * U32:.1e} relative)")
        alarms = sum(catches(correct, args.width, seed) for seed in seeds)
        print(f"| {name} | {cells[0]} | {cells[1]} | {alarms} of {len(seeds)} seeds |",
              flush=True)
    print(f"\n{time.perf_counter() - start:,.0f} s")


if __name__ == "__main__":
    main()
