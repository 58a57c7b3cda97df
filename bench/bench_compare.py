"""verify's comparison pass (``verdict.compare_all`` over ``core/compare_pass``): the
kernel against torch's ops in the same order (``torch_pass``, where no compiler is at
hand) and against one read of the same arrays, the issue's physical floor.

    python -m bench.bench_compare [--reps 7] [--threads 1]

The arrays: a float64 truth and two gradients (autograd's and the candidate's) of the
seed layer's W at width 4096 (16.8 M entries) in bfloat16 and in float32, with the
worst entries' run maxima as verify asks for them; and two float32 gradients of 4,096,
65,536 and 262,144 entries. Each figure is the median of ``--reps`` timings (the small
ones of 200 calls each), all in one run. Prints a Markdown table.

Then the Taylor test's step sums (``compare_pass.pair_sums``: Σ w·f and Σ|w·f| of an
upstream w and outputs f in float64, LayerNorm's 16 × 4096 at verify's largest size, and
16.8 M entries, 4096 × 4096): the kernel, torch's ops in its order, the way before it
(``w·f``, its absolute values and two ``precise.fixed_sum``), and one read of w and f.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from gradlab.core import compare_pass as cp
from gradlab.core.precise import fixed_sum
from gradlab.core.provenance import provenance
from gradlab.core.verdict import compare_all
from gradlab.verification.report import top_block


def median_seconds(fn, reps: int, calls: int = 1) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def arrays(n: int, dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    truth = torch.randn(n, generator=gen, dtype=torch.float64)
    grads = [(truth + 1e-2 * torch.randn(n, generator=gen, dtype=torch.float64)).to(dtype)
             for _ in range(2)]
    return truth, grads


def row(label: str, n: int, dtype: torch.dtype, reps: int, calls: int, unit: float,
        name: str) -> str:
    """One table row: the three timings of ``n`` entries, gradients in ``dtype``."""
    truth, grads = arrays(n, dtype)
    block = top_block(grads[-1])
    kern, torch_ops, read = (median_seconds(fn, reps, calls) for fn in (
        partial(compare_all, truth, grads, "float32", block),
        partial(cp.torch_pass, truth, grads, block),
        lambda: [x.sum() for x in (truth, *grads)]))
    return (f"| {label} | {kern * unit:.1f} {name} | {torch_ops * unit:.0f} {name} | "
            f"{read * unit:.1f} {name} | {kern / read:.1f} |")


def fixed_sums_way(w: torch.Tensor, f: torch.Tensor) -> tuple[float, float]:
    """The Taylor test's step sums as they were taken before ``pair_sums`` (b27444e … 18eb2e4)."""
    product = w.reshape(-1) * f.reshape(-1)
    return fixed_sum(product), fixed_sum(product.abs())


def pair_row(label: str, n: int, reps: int, calls: int, unit: float, name: str) -> str:
    w, f = (torch.randn(n, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
            for s in (1, 2))
    kern, torch_ops, before, read = (median_seconds(fn, reps, calls) for fn in (
        partial(cp.pair_sums, w, f), partial(cp._pair, w, f, None),
        partial(fixed_sums_way, w, f), lambda: (w.sum(), f.sum())))
    return (f"| {label} | {kern * unit:.1f} {name} | {torch_ops * unit:.0f} {name} | "
            f"{before * unit:.1f} {name} | {read * unit:.1f} {name} | {kern / read:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lib = cp.kernel()
    width = f"{lib.gradlab_compare_pass_width()} doubles a vector" if lib else "none"
    p = provenance()
    print(f"torch {p['torch_version']} · {p['threads']} threads · {p['timestamp']} · "
          f"kernel: {width}\n")
    print("| arrays | compare_all (the kernel) | torch's ops in its order | one read | "
          "kernel ÷ one read |")
    print("|---|---|---|---|---|")
    for dtype in (torch.bfloat16, torch.float32):
        print(row(f"W at 4096, two {str(dtype)[6:]} gradients", 4096 * 4096, dtype,
                  args.reps, 1, 1e3, "ms"), flush=True)
    for n in (4096, 1 << 16, 1 << 18):
        print(row(f"{n:,} entries, two float32 gradients", n, torch.float32, args.reps, 200,
                  1e6, "µs"), flush=True)
    print("\n| the Taylor step's Σ w·f and Σ abs(w·f) | pair_sums (the kernel) | torch's ops "
          "in its order | before: w·f, its abs, two fixed sums | one read of w and f | "
          "kernel ÷ one read |")
    print("|---|---|---|---|---|---|")
    print(pair_row("LayerNorm's 16 × 4096 outputs", 16 * 4096, args.reps, 200, 1e6, "µs"),
          flush=True)
    print(pair_row("16.8 M entries (4096 × 4096)", 4096 * 4096, args.reps, 1, 1e3, "ms"),
          flush=True)


if __name__ == "__main__":
    main()
