"""The time a built-in problem's verify takes here, estimated before it runs: the time
guard's cost model for the Verify page (``core.limits.check_seconds``,
GRADLAB_MAX_SECONDS); the seed layer's own check has ``problems.seed.cost``.

Per problem and dtype, over the problem's size s (a width, a length)::

    seconds ≈ t0 + c·sᵉ

where e is the size's power in the problem's work: 2 for the seed layer (W is s × s)
and attention (the scores are L × L), 1 for the others (rows × s). ``VERIFY_COST``
was fitted on the 2-core development machine by ``python -m bench.bench_cost
--verify`` (the correct candidate, best of 2, at every size the problem offers),
which also prints each estimate beside its measured time (docs/benchmarks.md, "The
time guard").
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["EXPONENT", "VERIFY_COST", "verify_seconds"]

#: The power of the size in each problem's work.
EXPONENT = {"seed": 2, "layernorm": 1, "cross-entropy": 1, "gelu": 1, "attention": 2}

#: (problem, dtype) → (t0, c) (bench/bench_cost.py --verify).
VERIFY_COST: dict[tuple[str, str], tuple[float, float]] = {
    ("seed", "float64"): (0.009, 1.76e-07),
    ("seed", "float32"): (0.009, 6e-08),
    ("seed", "bfloat16"): (0.009, 1.2e-07),
    ("seed", "float16"): (0.009, 1.3e-07),
    ("layernorm", "float64"): (0.009, 3.29e-06),
    ("layernorm", "float32"): (0.009, 1.11e-06),
    ("layernorm", "bfloat16"): (0.009, 1.12e-06),
    ("layernorm", "float16"): (0.009, 1.19e-06),
    ("cross-entropy", "float64"): (0.009, 5.44e-06),
    ("cross-entropy", "float32"): (0.009, 2.54e-06),
    ("cross-entropy", "bfloat16"): (0.009, 2.43e-06),
    ("cross-entropy", "float16"): (0.009, 2.24e-06),
    ("gelu", "float64"): (0.009, 3.33e-06),
    ("gelu", "float32"): (0.009, 1.24e-06),
    ("gelu", "bfloat16"): (0.009, 1.21e-06),
    ("gelu", "float16"): (0.009, 1.14e-06),
    ("attention", "float64"): (0.00974, 1.02e-06),
    ("attention", "float32"): (0.009, 2.2e-07),
    ("attention", "bfloat16"): (0.009, 1.47e-06),
    ("attention", "float16"): (0.009, 1.72e-06),
}


def verify_seconds(problem: str, sizes: Iterable[int], dtypes: Iterable[str]) -> float:
    """Estimated seconds of verifying ``problem`` at each of ``sizes`` in ``dtypes``
    (0 for a problem without a fitted model)."""
    dtypes, e = tuple(dtypes), EXPONENT.get(problem, 1)
    total = 0.0
    for size in sizes:
        for dtype in dtypes:
            t0, c = VERIFY_COST.get((problem, dtype), (0.0, 0.0))
            total += t0 + c * size ** e
    return total
