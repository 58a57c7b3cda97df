"""The time a verify of any function takes here, estimated before it runs from a
probe: the time guard's cost model where no model of the function was fitted (a
user's ``module:function`` on the Verify page, a corpus op's re-run on the Ops page);
the built-in problems have ``problems.cost``.

The probe p_d is one forward + backward of the candidate and of the reference in dtype
d on the inputs verify draws, timed here (per dtype: on a CPU, bfloat16 and float16
matrix products run several times slower than float32's). verify then runs, per dtype d, the
candidate, the reference's autograd and the float64 truth, and in float64 the
Taylor test's forwards; and it draws the inputs. So::

    seconds ≈ Σ_d (t0 + c_d·p_d) + k·N

with N the entries drawn, t0 verify's fixed cost per dtype, k torch's seeded float64
normal per entry, and c_d the median of (seconds − t0 − k·N)/p_d over the built-in
problems' runs of 50 ms or more (the runs a time limit is about), fitted by ``python
-m bench.bench_cost --probe --fit``, which prints each estimate beside its measured
time (docs/benchmarks.md, "The time guard").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import dtype_info
from gradlab.core.limits import MAX_BUDGET, Limits, check_seconds
from gradlab.verification.calls import call
from gradlab.verification.spec import (
    check_dtypes,
    check_inputs,
    check_memory,
    draw_inputs,
    estimate_bytes,
)

__all__ = ["check_probed", "DRAW_SECONDS", "estimate_seconds", "Probe", "PROBE_COST",
           "PROBE_T0", "probe", "probed_seconds"]

#: c_d: verify's seconds in dtype d per second of its probe (bench_cost --probe --fit).
PROBE_COST = {"float64": 4.9, "float32": 1.89, "bfloat16": 1.11, "float16": 1.1}
#: t0: verify's fixed seconds per dtype (the smallest built-in problem's verify).
PROBE_T0 = 0.009
#: k: seconds per entry drawn (torch's seeded float64 normal: ``problems.seed.cost.DRAW``).
DRAW_SECONDS = 2.2e-08


@dataclass(frozen=True)
class Probe:
    """One forward + backward of the candidate and the reference per dtype: their
    ``seconds`` by dtype and the ``entries`` verify draws."""

    seconds: Mapping[str, float]
    entries: int


def probe(candidate: Callable, reference: Callable, inputs: Mapping, dtypes: Iterable[str],
          seed: int = 0) -> Probe:
    """Time ``candidate`` and ``reference`` once each, forward and backward, in each of
    ``dtypes``, on the inputs verify draws at ``seed`` (the caller has checked their
    memory). A function that raises is timed until it raises: verify reports it as
    an error."""
    specs = draw_inputs(inputs, torch.Generator().manual_seed(seed))
    names = [s.name if s.differentiated else None for s in specs]
    seconds = {}
    for dtype in dtypes:
        args = [s.at(dtype_info(dtype).torch_dtype) for s in specs]
        start = time.perf_counter()
        for fn in (candidate, reference):
            _forward_backward(fn, [a.clone() for a in args], names)
        seconds[dtype] = time.perf_counter() - start
    return Probe(seconds, sum(math.prod(s.shape) for s in specs if s.differentiated))


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


def probed_seconds(sample: Probe) -> float:
    """verify's estimated seconds in the probe's dtypes."""
    per_dtype = sum(PROBE_T0 + PROBE_COST[d] * seconds for d, seconds in sample.seconds.items())
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
    return probed_seconds(probe(candidate, reference, inputs, check_dtypes(dtypes), seed))
