"""The time a seed-layer check takes here, estimated before it runs: the time guard's
cost model (``core.limits.check_seconds``, GRADLAB_MAX_SECONDS).

A check draws its inputs in float64 (W, X, g, b: about m·n + batch·n entries, once per
sizes and seed, which a sweep shares among its dtypes and ε), then runs the float64
reference, autograd and each method asked for: a few passes over W (m·n entries) and
products over the tokens (m·n·batch), plus kron's J = kron(I_m, xᵀ), m²·n·batch
entries, where it runs. Per dtype::

    seconds ≈ DRAW·(m·n + batch·n) + t0 + a·m·n·batch·share + k·m²·n·batch

where share is the fraction of a full check's work the asked methods make (the
reference and autograd always run) and k counts only where kron runs. ``COST`` and
``DRAW`` were fitted on the 2-core development machine by ``python -m bench.bench_cost
--fit`` (every method, m = n = 64 … 4096, batch 1); ``python -m bench.bench_cost``
prints each estimate beside the measured time (docs/benchmarks.md, "The time guard").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from gradlab.core.limits import Limits
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import kron_refusal
from gradlab.problems.seed.gradients import METHODS

__all__ = [
    "case_seconds", "check_seconds", "compute_seconds", "COST", "Cost", "DRAW", "draw_seconds",
    "kron_runs", "method_share", "SWEEP_POINT"
]


class Cost(NamedTuple):
    """One dtype's coefficients: seconds t0, per entry of W·tokens a, per entry of J k."""

    t0: float
    a: float
    k: float


#: Seconds per float64 entry drawn (bench/bench_cost.py --fit).
DRAW = 2.18e-08
#: dtype → its coefficients for a check on inputs already drawn (bench/bench_cost.py --fit;
#: t0 is the 3 ms a check at m = n = 64 takes, where the fit's intercept is below it).
COST = {
    "float64": Cost(0.003, 3.48e-08, 2.31e-08),
    "float32": Cost(0.003, 1.3e-08, 2.09e-09),
    "bfloat16": Cost(0.003, 2.98e-08, 6.87e-09),
    "float16": Cost(0.003, 3.35e-08, 7.38e-09),
}


def kron_runs(case: Case, limits: Limits, methods: Iterable[str] = METHODS) -> bool:
    """Whether kron runs on ``case``: asked for, and not refused (``kron_refusal``)."""
    return "kron" in methods and kron_refusal(case, limits) is None


def method_share(methods: Iterable[str]) -> float:
    """The fraction of a full check's passes that ``methods`` make: the reference and
    autograd always run; each other method asked adds its own."""
    asked = {"autograd", *methods} - {"kron"}
    full = {"autograd", *METHODS} - {"kron"}
    return (1 + len(asked)) / (1 + len(full))


def draw_seconds(case: Case) -> float:
    """Estimated seconds of drawing ``case``'s float64 inputs."""
    return DRAW * (case.m * case.n + case.batch * case.n + 2 * case.m)


def compute_seconds(case: Case, limits: Limits, methods: Iterable[str] = METHODS) -> float:
    """Estimated seconds of ``run_check`` on inputs already drawn."""
    methods = tuple(methods)
    cost = COST[case.dtype]
    entries = case.m * case.n * case.batch
    kron = case.m * entries if kron_runs(case, limits, methods) else 0
    return cost.t0 + cost.a * entries * method_share(methods) + cost.k * kron


def check_seconds(case: Case, limits: Limits, methods: Iterable[str] = METHODS) -> float:
    """Estimated seconds of ``run_check(case, methods, limits=limits)`` here."""
    return draw_seconds(case) + compute_seconds(case, limits, methods)


#: A sweep's point beside a check, its draws aside: it forms dL/dW alone and shares the
#: reference's ε-free part among its ε (sweep/points.py). The default sweep in a process
#: that does not keep its freed memory, as the dashboard's: 14.0 s measured against
#: 25.1 s estimated at a check's cost, 1.5 s of it the draws (2026-12-05,
#: docs/benchmarks.md, "The time guard").
SWEEP_POINT = 0.55


def case_seconds(cases: Iterable[Case], limits: Limits, methods: Iterable[str] = METHODS,
                 runs: int = 1) -> float:
    """Estimated seconds of a sweep's points: every case checked ``runs`` times (its
    variants) at ``SWEEP_POINT`` of a check's compute, the inputs drawn once per sizes,
    scale and seed, as a sweep draws them."""
    methods, cases = tuple(methods), tuple(cases)
    groups = {(c.m, c.n, c.batch, c.scale, c.seed): c for c in cases}
    return (sum(draw_seconds(c) for c in groups.values())
            + runs * SWEEP_POINT * sum(compute_seconds(case, limits, methods)
                                       for case in cases))
