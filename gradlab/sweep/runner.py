"""Running a sweep point by point into one frame, and the in-process cache.

A point is one Case × one variant. Its row is ``Check.to_row()``, then
``error`` and the provenance columns (see gradlab/sweep/schema.py). The runner
draws the inputs once per (m, n, batch, scale, seed), rounds them once per
dtype, and computes the reference once per case, shared by its variants.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import pandas as pd
import torch

from gradlab import __version__
from gradlab.core.dtypes import dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.core.provenance import provenance
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.inputs import Inputs, draw
from gradlab.sweep import schema
from gradlab.sweep.grid import Sweep

Progress = Callable[[int, int, float], None]
Cancel = Callable[[], bool]


def check_device(device: str) -> None:
    """cpu, or cuda where torch sees a GPU; a clear refusal otherwise."""
    if device == "cpu":
        return
    if device == "cuda" or (isinstance(device, str) and device.startswith("cuda:")):
        if not torch.cuda.is_available():
            raise GradlabError(f"device {device}: no CUDA GPU is available here "
                               "(torch.cuda.is_available() is False); use cpu")
        return
    raise GradlabError(f"device must be cpu or cuda (got {device!r})")


def _failed_row(case: Case, variant: str, why: str) -> dict:
    """The row of a point that could not run: its case, NaN numbers, the reason."""
    row = {name: schema.MISSING[kind] for name, (kind, _, _) in schema.COLUMNS.items()}
    row.update(case.to_row(), variant=variant, error=why)
    return row


def _run_point(case: Case, variant: str, methods, limits: Limits, device: str,
               inputs: Inputs, reference):
    """(row, reference) of one point; a point that raises becomes a row saying so."""
    try:
        check = run_check(case, methods, None if variant == "none" else variant, limits,
                          kron_over_budget="skip", reference=reference, device=device,
                          inputs=inputs)
    except (GradlabError, RuntimeError, MemoryError, ArithmeticError) as exc:
        return _failed_row(case, variant, f"{type(exc).__name__}: {exc}"), reference
    row = check.to_row()
    row["error"] = ""
    return row, check.reference


def run_sweep(sweep: Sweep, limits: Limits = Limits(), progress: Progress | None = None,
              cancel: Cancel | None = None, device: str = "cpu") -> pd.DataFrame:
    """Run every point of ``sweep``; one row per point (see gradlab/schema.py).

    Refuses (GradlabError) before any work a sweep past ``limits`` or a device
    that is not there. ``progress(done, total, elapsed_seconds)`` is called
    after each point; ``cancel()`` is polled before each point, and when it
    returns True the rows so far are returned (``frame.attrs["complete"]`` is
    False then). Deterministic: the same sweep gives the same numbers.
    """
    sweep.check(limits)
    check_device(device)
    total = sweep.points
    stamp = provenance(device)
    rows: list[dict] = []
    start = time.perf_counter()
    cancelled = False
    for (m, n, batch, scale, seed), cases in sweep.groups():
        if cancelled:
            break
        base = None  # float64 draws, once per group, when first needed
        rounded: dict[str, Inputs] = {}
        for case in cases:
            if cancel is not None and cancel():
                cancelled = True
                break
            if base is None:
                base = draw(m, n, batch, seed, scale)
            if case.dtype not in rounded:
                rounded.clear()  # one dtype at a time: bounded memory
                rounded[case.dtype] = base.to(dtype_info(case.dtype).torch_dtype).on(device)
            r = rounded[case.dtype]
            # ε is an input too: as case_inputs does, it is a float64 tensor rounded to the dtype.
            eps = torch.tensor(case.eps, dtype=torch.float64).to(r.dtype).to(r.W.device)
            inputs = Inputs(r.W, r.X, r.g, r.b, eps)
            reference = None  # computed by the first variant, shared by the others
            for i, variant in enumerate(sweep.variants):
                if i and cancel is not None and cancel():
                    cancelled = True
                    break
                row, reference = _run_point(case, variant, sweep.methods, limits, device,
                                            inputs, reference)
                row.update(stamp)
                rows.append(row)
                if progress is not None:
                    progress(len(rows), total, time.perf_counter() - start)
            if cancelled:
                break
    frame = schema.to_frame(rows)
    frame.attrs["complete"] = len(rows) == total
    return frame


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def cache_key(sweep: Sweep, limits: Limits, device: str) -> tuple:
    """What a cached sweep is keyed by: the frozen sweep, the limits, the device, and the
    versions and thread count that could change its numbers."""
    return (sweep, limits, device, __version__, torch.__version__, torch.get_num_threads())


def cached_sweep(sweep: Sweep, limits: Limits = Limits(), device: str = "cpu",
                 progress: Progress | None = None, cancel: Cancel | None = None
                 ) -> pd.DataFrame:
    """``run_sweep``, remembered in this process (the last 16 complete sweeps).

    Asked again with an equal key (see ``cache_key``) it returns a copy of the
    first result at once, without calling ``progress``. A cancelled sweep is
    not remembered.
    """
    key = cache_key(sweep, limits, device)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key].copy()
    frame = run_sweep(sweep, limits, progress, cancel, device)
    if frame.attrs.get("complete"):
        with _CACHE_LOCK:
            _CACHE[key] = frame.copy()
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return frame


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
