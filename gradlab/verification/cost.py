"""The time a verify of any function takes here, estimated before it runs from one
probe: the time guard's cost model where no model of the function was fitted (a
user's ``module:function`` on the Verify page, a corpus op's re-run on the Ops page);
the built-in problems have ``problems.cost``.

The probe p is one forward + backward of the candidate and of the reference in
float32 on the inputs verify draws, timed here. verify then runs, per dtype d, the
candidate, the reference's autograd and the float64 truth, and in float64 the
Taylor test's forwards; and it draws the inputs and their upstream gradients. So::

    seconds ≈ Σ_d (t0 + c_d·p) + k·N

with N the entries drawn (every floating input) and (t0, c_d, k) fitted on the
built-in problems by ``python -m bench.bench_cost --probe --fit``, which also prints
each estimate beside its measured time (docs/benchmarks.md, "The time guard").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from gradlab.core.limits import MAX_BUDGET, Limits, check_seconds
from gradlab.verification.calls import call
from gradlab.verification.spec import check_inputs, check_memory, draw_inputs, estimate_bytes

__all__ = ["check_probed", "DRAW_SECONDS", "estimate_seconds", "Probe", "PROBE_COST",
           "PROBE_T0", "probe", "probed_seconds"]

#: c_d: verify's seconds in dtype d per second of the probe (bench_cost --probe --fit).
PROBE_COST = {"float64": 7.28, "float32": 2.77, "bfloat16": 4.64, "float16": 4.79}
#: t0: verify's fixed seconds per dtype (the checks, the report's rows, Python).
PROBE_T0 = 0.0091
#: k: seconds per entry drawn (torch's seeded float64 normal, and the upstream's).
DRAW_SECONDS = 4.6e-08


@dataclass(frozen=True)
class Probe:
    """One float32 forward + backward of the candidate and the reference: its
    ``seconds`` and the ``entries`` verify draws."""

    seconds: float
    entries: int


def probe(candidate: Callable, reference: Callable, inputs: Mapping, seed: int = 0) -> Probe:
    """Time ``candidate`` and ``reference`` once each, forward and backward in float32,
    on the inputs verify draws at ``seed`` (the caller has checked their memory). A
    function that raises is timed until it raises: verify reports it as an error."""
    specs = draw_inputs(inputs, torch.Generator().manual_seed(seed))
    names = [s.name if s.differentiated else None for s in specs]
    entries = sum(math.prod(s.shape) for s in specs if s.differentiated)
    start = time.perf_counter()
    for fn in (candidate, reference):
        _forward_backward(fn, [s.at(torch.float32) for s in specs], names)
    return Probe(time.perf_counter() - start, entries)


def _forward_backward(fn: Callable, args: list[torch.Tensor], names: list[str | None]) -> None:
    """``fn``'s outputs, then their gradient against ones (its errors swallowed)."""
    try:
        leaves, outs = call(fn, args, names)
        outs = [o for o in outs if o.requires_grad]
        wanted = [leaf for leaf, name in zip(leaves, names) if name]
        if outs and wanted:
            torch.autograd.grad(outs, wanted, [torch.ones_like(o) for o in outs],
                                allow_unused=True)
    except Exception:  # noqa: BLE001 - the probe times; verify reports the failure
        return


def probed_seconds(sample: Probe, dtypes: Iterable[str]) -> float:
    """verify's estimated seconds in ``dtypes`` from a probe (a dtype without a fitted
    c_d counts as float64, the dearest)."""
    per_dtype = sum(PROBE_T0 + PROBE_COST.get(d, PROBE_COST["float64"]) * sample.seconds
                    for d in dtypes)
    return per_dtype + DRAW_SECONDS * sample.entries


def check_probed(candidate: Callable, reference: Callable, inputs: Mapping,
                 dtypes: Iterable[str], seed: int, limits: Limits, what: str) -> None:
    """Refuse, before verify runs, ``what`` when its probed estimate is past
    GRADLAB_MAX_SECONDS: the inputs are first held to the memory guard, and nothing
    is probed when there is no time limit."""
    if limits.max_seconds < MAX_BUDGET:
        check_seconds(estimate_seconds(candidate, reference, inputs, dtypes, seed, limits),
                      limits, what)


def estimate_seconds(candidate: Callable, reference: Callable, inputs: Mapping,
                     dtypes: Iterable[str], seed: int, limits: Limits) -> float:
    """verify's estimated seconds, from a probe run once the inputs are held to the
    memory guard (which names the input and the budget)."""
    check_inputs(inputs)
    check_memory(estimate_bytes(inputs), limits)
    return probed_seconds(probe(candidate, reference, inputs, seed), dtypes)
