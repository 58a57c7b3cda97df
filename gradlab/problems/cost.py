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
    ("seed", "float64"): (0.0327, 2.28e-07),
    ("seed", "float32"): (0.0226, 8.59e-08),
    ("seed", "bfloat16"): (0.025, 1.5e-07),  # t0: the measured floor at width 64
    ("seed", "float16"): (0.025, 1.54e-07),
    ("layernorm", "float64"): (0.0266, 4.14e-06),
    ("layernorm", "float32"): (0.0206, 2.1e-06),
    ("layernorm", "bfloat16"): (0.0209, 1.8e-06),
    ("layernorm", "float16"): (0.0211, 1.61e-06),
    ("cross-entropy", "float64"): (0.0102, 8.46e-06),
    ("cross-entropy", "float32"): (0.00923, 2.53e-06),
    ("cross-entropy", "bfloat16"): (0.00922, 2.55e-06),
    ("cross-entropy", "float16"): (0.00977, 2.55e-06),
    ("gelu", "float64"): (0.0113, 3.39e-06),
    ("gelu", "float32"): (0.00945, 1.45e-06),
    ("gelu", "bfloat16"): (0.00988, 1.2e-06),
    ("gelu", "float16"): (0.0101, 1.29e-06),
    ("attention", "float64"): (0.0304, 1.51e-06),
    ("attention", "float32"): (0.0268, 1.91e-07),
    ("attention", "bfloat16"): (0.022, 1.43e-06),
    ("attention", "float16"): (0.0208, 1.64e-06),
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
