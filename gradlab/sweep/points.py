"""The points of a sweep computed: one row per (case, variant), serially here or in a
Dask worker alike. ``group_rows`` runs the cases of one group in order, sharing the
group's draws and each case's reference; a point that cannot run is an error row
(``failed_rows``, with ``reason``). The serial runner (runner.py) and the Dask path
(cluster.py) both import this module, and neither imports the other's internals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from gradlab.core.dtypes import dtype_info
from gradlab.core.limits import Limits
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.inputs import Inputs, draw
from gradlab.problems.seed.reference import (
    PreActivation,
    Reference,
    pre_activation,
    reference_grads,
)
from gradlab.sweep import schema
from gradlab.sweep.grid import Sweep

__all__ = ["Cancel", "Progress", "failed_rows", "group_rows", "reason"]

#: The gradients a sweep's point forms: its row holds dL/dW's errors alone.
ROW_PARAMS = ("W",)

Progress = Callable[[int, int, float], None]
Cancel = Callable[[], bool]



def _failed_row(case: Case, variant: str, why: str) -> dict:
    """The row of a point that could not run: its case, NaN numbers, the reason."""
    row = {name: schema.MISSING[kind] for name, (kind, _, _) in schema.COLUMNS.items()}
    row.update(case.to_row(), variant=variant, error=why)
    return row


def failed_rows(cases, variants, why: str) -> list[dict]:
    """The rows of every point of ``cases`` × ``variants``, none of which could run."""
    return [_failed_row(case, variant, why) for case in cases for variant in variants]


def reason(exc: BaseException) -> str:
    """An exception as an ``error`` cell: 'TypeName: message'."""
    return f"{type(exc).__name__}: {exc}"


def _run_point(case: Case, variant: str, methods, limits: Limits, device: str,
               inputs: Inputs, reference: Reference) -> dict:
    """The row of one point. Any Exception the point raises (a guard, out of memory, an
    AssertionError of a method that ran in the wrong dtype …) becomes a row saying
    so; KeyboardInterrupt and SystemExit still stop the sweep."""
    try:
        check = run_check(case, methods, None if variant == "none" else variant, limits,
                          kron_over_budget="skip", reference=reference, device=device,
                          inputs=inputs, params=ROW_PARAMS)
    except Exception as exc:  # noqa: BLE001 (one point's failure is its row)
        return _failed_row(case, variant, reason(exc))
    row = check.to_row()
    row["error"] = ""
    return row


def group_rows(sweep: Sweep, cases, limits: Limits = Limits(), device: str = "cpu"
               ) -> Iterator[dict]:
    """The rows of ``cases`` × ``sweep.variants``, in run order, one per ``next``.

    ``cases`` share m, n, batch, scale and seed (all or part of one of
    ``sweep.groups()``): their inputs are drawn once in float64 and rounded once
    per dtype; the reference's ε-free part (``pre_activation``: two passes over W)
    is taken once per dtype, and each case's reference once, for all its
    variants. A generator: nothing runs until the next row is asked for, so a
    caller can stop between points. A draw, rounding or reference that raises
    makes the rows of the points that needed it error rows. Rows carry no
    provenance.
    """
    base = None  # float64 draws, when first needed
    rounded: dict[str, tuple[Inputs, PreActivation]] = {}
    for case in cases:
        try:
            case.check_limits(limits)  # before any m×n work of the case's own
            if base is None:
                base = draw(case.m, case.n, case.batch, case.seed, case.scale)
            if case.dtype not in rounded:
                rounded.clear()  # one dtype at a time: bounded memory
                r = base.to(dtype_info(case.dtype).torch_dtype).on(device)
                rounded[case.dtype] = (r, pre_activation(r))
            r, pre = rounded[case.dtype]
            # ε is an input too: as case_inputs does, a float64 tensor rounded to the dtype.
            eps = torch.tensor(case.eps, dtype=torch.float64).to(r.dtype).to(r.W.device)
            inputs = Inputs(r.W, r.X, r.g, r.b, eps)
            reference = reference_grads(inputs, case.eps_placement, params=ROW_PARAMS, pre=pre)
        except Exception as exc:  # noqa: BLE001 (the points that needed it say why)
            yield from failed_rows([case], sweep.variants, reason(exc))
            continue
        for variant in sweep.variants:
            yield _run_point(case, variant, sweep.methods, limits, device, inputs, reference)
