"""Running a sweep point by point into one frame, and the in-process cache.

A point is one Case × one variant. Its row is ``Check.to_row()``, then
``error`` and the provenance columns (see gradlab/sweep/schema.py). The runner
draws the inputs once per (m, n, batch, scale, seed), rounds them once per
dtype, and computes the reference once per case, shared by its variants
(``group_rows``). It runs serially here, or on Dask (gradlab/sweep/cluster.py,
which runs ``group_rows`` on the workers): the same rows and numbers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import torch

from gradlab._version import __version__
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.core.provenance import provenance
from gradlab.sweep import schema
from gradlab.sweep.executor import Executor
from gradlab.sweep.grid import Sweep
from gradlab.sweep.points import Cancel, Progress, group_rows

if TYPE_CHECKING:  # the frame is built in schema.to_frame: a Dask worker imports no pandas
    import pandas as pd

__all__ = ["cache_key", "cached_sweep", "check_device", "clear_cache", "run_sweep"]

def check_device(device: str) -> None:
    """cpu, or cuda where torch sees a GPU; a clear refusal otherwise."""
    if device == "cpu":
        return
    if device == "cuda" or (isinstance(device, str) and device.startswith("cuda:")):
        if not torch.cuda.is_available():
            raise GradlabError(f"device {device}: no CUDA GPU is available here "
                               "(torch.cuda.is_available() is False); use cpu", "device")
        return
    raise GradlabError(f"device must be cpu or cuda (got {device!r})", "device")


def run_sweep(sweep: Sweep, limits: Limits = Limits(), progress: Progress | None = None,
              cancel: Cancel | None = None, device: str = "cpu",
              executor: Executor = Executor()) -> pd.DataFrame:
    """Run every point of ``sweep``; one row per point (see gradlab/sweep/schema.py).

    Refuses (GradlabError) before any work a sweep past ``limits``, a device
    that is not there, or an executor that cannot be used. ``executor``: serial
    in this process (the default), or on Dask (see gradlab/sweep/cluster.py);
    every executor gives the same rows in the same order and the same numbers,
    all but the timing and provenance columns. ``progress(done, total,
    elapsed_seconds)`` is called as points complete; ``cancel()`` is polled
    between points (serial) or while waiting (Dask), and when it returns True the
    rows so far are returned (``frame.attrs["complete"]`` is False then). A point
    that raises is a row with its ``error``; the sweep goes on.
    """
    sweep.check(limits)
    check_device(device)
    executor.check()
    if executor.serial:
        rows = _run_serial(sweep, limits, progress, cancel, device)
    else:
        from gradlab.sweep.cluster import run_on_dask
        rows = run_on_dask(sweep, limits, progress, cancel, device, executor)
    frame = schema.to_frame(rows)
    frame.attrs["complete"] = len(rows) == sweep.points
    ran = frame.loc[frame["worker"] != "", "torch_version"]  # "": ran on no worker
    frame.attrs["torch_versions"] = {str(v): int(n) for v, n in ran.value_counts().items()}
    return frame


def _run_serial(sweep: Sweep, limits: Limits, progress: Progress | None,
                cancel: Cancel | None, device: str) -> list[dict]:
    """Every point in this process, in run order; ``cancel`` is polled before each."""
    total = sweep.points
    stamp = provenance(device)
    rows: list[dict] = []
    start = time.perf_counter()
    for _, cases in sweep.groups():
        points = group_rows(sweep, cases, limits, device)
        while True:
            if cancel is not None and cancel():
                return rows
            row = next(points, None)
            if row is None:
                break
            row.update(stamp)
            rows.append(row)
            if progress is not None:
                progress(len(rows), total, time.perf_counter() - start)
    return rows


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def cache_key(sweep: Sweep, limits: Limits, device: str, executor: Executor = Executor()
              ) -> tuple:
    """What a cached sweep is keyed by: the frozen sweep, the limits, the device, the
    executor (its rows' provenance differs), and the versions and thread count that
    could change its numbers."""
    return (sweep, limits, device, executor, __version__, torch.__version__,
            torch.get_num_threads())


def cached_sweep(sweep: Sweep, limits: Limits = Limits(), device: str = "cpu",
                 progress: Progress | None = None, cancel: Cancel | None = None,
                 executor: Executor = Executor()) -> pd.DataFrame:
    """``run_sweep``, remembered in this process (the last 16 complete sweeps).

    Asked again with an equal key (see ``cache_key``) it returns a copy of the
    first result at once, without calling ``progress``. A cancelled sweep is
    not remembered.
    """
    key = cache_key(sweep, limits, device, executor)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key].copy()
    frame = run_sweep(sweep, limits, progress, cancel, device, executor)
    if frame.attrs.get("complete"):
        with _CACHE_LOCK:
            _CACHE[key] = frame.copy()
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return frame


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
