"""A sweep on Dask distributed: a local cluster of worker processes, or a running
scheduler and its workers (see gradlab/sweep/executor.py and docs/sweeps.md).

The sweep is cut into units (``plan``), one Dask task each (``run_unit``):

- a unit is the cases of one group of ``Sweep.groups()`` (same m, n, batch,
  scale, seed), which share one draw of the inputs, one rounding per dtype
  and one reference per case, exactly as the serial runner shares them;
- a group that costs more than a worker's fair share of the whole sweep
  (total ÷ workers) would hold up the end of the run on its own, so it is cut
  into one unit per dtype (each unit draws the inputs again; nothing else is
  repeated);
- the biggest units go first (Dask priorities), so the tail is short.

A unit's rows are computed by ``points.group_rows``, the serial runner's own
code, and every sum in it is thread-count independent, so a worker with one
torch thread gives the serial run's numbers bit for bit. Each row carries its
worker's provenance (address, torch and Python versions, threads).

Waits are bounded. ``progress`` is called as each unit completes and about
once a second while waiting; ``cancel`` is polled every ``TICK`` seconds. A unit
that raises on its worker becomes error rows. A worker that dies mid-unit: the
scheduler runs the unit again on another worker (Dask's allowed-failures,
3 by default); a unit that kills every worker it runs on becomes error rows
(KilledWorker). With no worker at all for ``NO_WORKER_SECONDS`` the units still
waiting become error rows, and a lost scheduler cancels them: the sweep always
returns. Leaving early (cancel, an exception raised from ``progress``, Ctrl-C)
cancels the units still waiting and stops a local cluster.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import dask
import torch
from distributed import Client, Future, LocalCluster, get_worker
from distributed.utils import get_mp_context

from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.core.memory import keep_freed_memory
from gradlab.core.provenance import provenance
from gradlab.problems.seed.case import Case
from gradlab.sweep.executor import Executor
from gradlab.sweep.forkserver import preload, start_method
from gradlab.sweep.grid import Sweep
from gradlab.sweep.points import Cancel, Progress, failed_rows, group_rows, reason

__all__ = ["case_cost", "collect", "connect", "local_cluster", "plan", "QUIET", "run_on_client",
           "run_on_dask", "run_unit", "SCHEDULING", "Unit",
           "without_gradlab"]

TICK = 0.2  # seconds between polls of cancel, and of the cluster's workers
HEARTBEAT = 1.0  # seconds between progress calls while no unit completes
NO_WORKER_SECONDS = 60.0  # the units still waiting with no worker this long: error rows
CONNECT_SECONDS = 10.0  # to reach a running scheduler
RESULT_SECONDS = 60.0  # to fetch a finished task's result (a unit's rows) from its worker
CLOSE_SECONDS = 20.0


@dataclass(frozen=True)
class Unit:
    """One Dask task: cases that share m, n, batch, scale and seed, each with every
    variant; ``index`` orders units as the serial run orders their rows."""

    index: int
    cases: tuple[Case, ...]
    cost: float

    def points(self, sweep: Sweep) -> int:
        return len(self.cases) * len(sweep.variants)


#: A point's time per dtype, relative to float32, at m = n = 4096 (measured in
#: docs/benchmarks.md, "The sweep runner"). float64 has the long double reference; CPU
#: float16 arithmetic is slow.
DTYPE_WEIGHT = {"float64": 2.6, "float32": 1.0, "bfloat16": 0.8, "float16": 2.9}


def case_cost(case: Case, sweep: Sweep, limits: Limits) -> float:
    """A case's work (all its variants), roughly: m·n·batch entries, weighed by its
    dtype, plus kron's m²·n·batch where kron runs. Only ratios matter (the order of
    the units, and which groups to cut)."""
    mn = case.m * case.n * case.batch
    cost = mn * DTYPE_WEIGHT.get(case.dtype, 1.0)
    if "kron" in sweep.methods and case.kron_bytes() <= limits.kron_bytes:
        cost += case.m * mn
    return cost * len(sweep.variants)


def plan(sweep: Sweep, limits: Limits, workers: int) -> list[Unit]:
    """The sweep's units, biggest first (see the module docstring); ``index`` keeps
    the serial order. A group costing more than total ÷ workers is cut by dtype."""
    groups = [tuple(cases) for _, cases in sweep.groups()]
    costs = [sum(case_cost(c, sweep, limits) for c in cases) for cases in groups]
    share = sum(costs) / max(1, workers)
    units: list[Unit] = []
    for cases, cost in zip(groups, costs):
        parts = [cases]
        if cost > share and len(sweep.dtypes) > 1:
            parts = [tuple(c for c in cases if c.dtype == d) for d in sweep.dtypes]
        for part in parts:
            units.append(Unit(len(units), part, sum(case_cost(c, sweep, limits)
                                                    for c in part)))
    return sorted(units, key=lambda u: (-u.cost, u.index))


def run_unit(sweep: Sweep, cases: tuple[Case, ...], limits: Limits, device: str,
             threads: int) -> list[dict]:
    """On a worker: the unit's rows (``points.group_rows``) with this worker's
    provenance; ``threads`` > 0 sets torch's threads first. The worker keeps its
    freed memory for the next point (``memory.keep_freed_memory``): Dask's nanny
    starts it with MALLOC_TRIM_THRESHOLD_=65536, which makes every tensor over
    128 KiB a fresh mmap whose pages the kernel faults in and zeroes."""
    keep_freed_memory()
    if threads:
        torch.set_num_threads(threads)
    try:
        where = get_worker().address
    except ValueError:  # not on a Dask worker (called directly)
        where = None
    stamp = provenance(device, where)
    rows = list(group_rows(sweep, cases, limits, device))
    for row in rows:
        row.update(stamp)
    return rows


def run_on_dask(sweep: Sweep, limits: Limits, progress: Progress | None,
                cancel: Cancel | None, device: str, executor: Executor) -> list[dict]:
    """The sweep's rows in the serial run's order, computed on Dask; a cancelled run
    gives the rows of the units done so far (still in that order)."""
    with connect(executor) as client:
        return run_on_client(client, sweep, limits, progress, cancel, device, executor)


def run_on_client(client: Client, sweep: Sweep, limits: Limits, progress: Progress | None,
                  cancel: Cancel | None, device: str, executor: Executor) -> list[dict]:
    """``run_on_dask`` on a connected client; on the way out, by any path, the units
    still waiting are cancelled."""
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    parameter = "workers" if executor.workers else "scheduler"
    name = f"{parameter} {executor.workers or executor.scheduler}"
    try:
        missing = without_gradlab(client)
    except Exception as exc:  # noqa: BLE001 (the scheduler went away: say so, no traceback)
        raise GradlabError(f"{name}: {reason(exc)}", parameter) from None
    if missing:
        raise GradlabError(f"{name}: {' and '.join(missing)} cannot import "
                           f"{__name__}; install this gradlab there or set PYTHONPATH to "
                           "this checkout (docs/sweeps.md)", parameter)
    units = plan(sweep, limits, executor.workers or _thread_slots(client) or 1)
    threads = executor.threads_per_worker() if executor.workers else 0
    run = f"gradlab-sweep-{uuid.uuid4().hex[:12]}"
    futures = {client.submit(run_unit, sweep, unit.cases, limits, device, threads,
                             key=f"{run}-{unit.index}", priority=len(units) - rank,
                             pure=False): unit
               for rank, unit in enumerate(units)}
    done = _collect(client, futures, sweep, progress, cancel, device, executor)
    rows: list[dict] = []
    for index in sorted(done):
        for row in done[index]:
            row["timestamp"] = started
            rows.append(row)
    return rows


#: Dask's background work, slowed for a local cluster, whose processes share the cores
#: with the sweep's tasks and which serves no dashboard (docs/benchmarks.md, "Dask's
#: background work"). Each worker's statistical profiler samples the running task's
#: stack every 10 ms, holding the GIL; every server's event-loop health check ticks
#: every 20 ms; the system and memory monitors poll 2 and 10 times a second. What that
#: costs the calling process and each worker, with Dask's settings and with these, is
#: measured there.
QUIET = {
    "distributed.worker.profile.enabled": False,  # its pages are not served here
    "distributed.admin.tick.interval": "500ms",  # warns of a loop blocked ≥ 3 s still
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "500ms",  # the nanny's limit, spilling
}

#: A local cluster's scheduler sends a worker its next unit only when the worker is
#: free. Dask's default, worker-saturation 1.1, sends a one-thread worker
#: ceil(1.1) = 2 units, so the unit next in line could wait behind a long m = n = 4096
#: unit while the other worker idled (traced in docs/benchmarks.md: the two workers
#: finish further apart with Dask's default than with 1.0).
SCHEDULING = {"distributed.scheduler.worker-saturation": 1.0}


def local_cluster(workers: int) -> LocalCluster:
    """A local cluster of ``workers`` processes with one thread each, on 127.0.0.1,
    whose workers are forked from a server that has imported ``forkserver.PRELOAD``
    (gradlab/sweep/forkserver.py: the CLI starts that server first thing), with Dask's
    background work slowed (``QUIET``) and one unit at a time per worker (``SCHEDULING``)."""
    with dask.config.set({**QUIET, **SCHEDULING,
                          "distributed.worker.multiprocessing-method": start_method()}):
        preload(get_mp_context())  # after Dask has set its own list, once, here
        # The scheduler always serves HTTP (health, metrics); without an address it takes
        # port 8787, which another cluster may hold (a warning, then another port).
        # Here: a free port on 127.0.0.1, and no dashboard pages. Its processes log
        # only what is critical: a worker that loses the scheduler while the cluster
        # closes logs an ERROR with a traceback, and a failing unit's reason is in its
        # rows anyway.
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address="127.0.0.1:0",
                            scheduler_kwargs={"dashboard": False},
                            silence_logs=logging.CRITICAL)


class connect:
    """A Client of a local cluster (started here, stopped on exit) or of a running
    scheduler; a failure to start or connect is a GradlabError naming the flag."""

    def __init__(self, executor: Executor):
        self.executor = executor
        self.cluster = None
        self.client = None

    def __enter__(self) -> Client:
        ex = self.executor
        try:
            if ex.workers:
                self.cluster = local_cluster(ex.workers)
                self.client = Client(self.cluster, set_as_default=False)
            else:
                self.client = Client(ex.scheduler, timeout=CONNECT_SECONDS,
                                     set_as_default=False)
        except Exception as exc:  # noqa: BLE001 (any failure to start is bad input here)
            self.__exit__(None, None, None)
            if ex.workers:
                raise GradlabError(f"workers {ex.workers}: could not start a local Dask "
                                   f"cluster: {reason(exc)}", "workers") from None
            raise GradlabError(f"scheduler {ex.scheduler}: could not connect within "
                               f"{CONNECT_SECONDS:g} s: {reason(exc)}", "scheduler") from None
        return self.client

    def __exit__(self, *exc_info):
        # Best effort, bounded: the cluster may be gone, and an exception on its way
        # out must not be hidden.
        for part in (self.client, self.cluster):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close(timeout=CLOSE_SECONDS)
        return False


def without_gradlab(client: Client) -> list[str]:
    """The scheduler and the workers that cannot import this module (the tasks'
    code). Dask's scheduler unpickles the tasks too, and a worker that cannot stops
    on its first task. The probe is a local function, sent by value, so it runs
    where gradlab is missing."""
    module = __name__

    def importable() -> bool:
        import importlib.util

        try:
            return importlib.util.find_spec(module) is not None
        except ImportError:  # a parent package is missing
            return False

    missing = [] if client.run_on_scheduler(importable) else ["the scheduler"]
    return missing + sorted(f"the worker {w}" for w, ok in client.run(importable).items()
                            if not ok)


def _thread_slots(client: Client) -> int:
    """How many tasks the cluster runs at once (its workers' threads); 0 if unknown."""
    try:
        return sum(client.nthreads().values())
    except Exception:  # noqa: BLE001 (a scheduler on its way out: treated as no workers)
        return 0


def _collect(client: Client, futures: dict[Future, Unit], sweep: Sweep,
             progress: Progress | None, cancel: Cancel | None, device: str,
             executor: Executor) -> dict[int, list[dict]]:
    """Each unit's rows by unit index, as the units complete (see the module
    docstring for cancel, progress, errors and the bounded waits)."""
    units = {unit.index: unit for unit in futures.values()}
    return collect(client, {future: unit.index for future, unit in futures.items()},
                   sweep.points,
                   failed=lambda i, why: _here(failed_rows(units[i].cases, sweep.variants,
                                                           why), device),
                   size=len, progress=progress, cancel=cancel, executor=executor)


def collect(client: Client, futures: dict, total: int, failed: Callable, size: Callable,
            progress: Progress | None, cancel: Cancel | None, executor: Executor) -> dict:
    """The result of each task, by its key in ``futures`` (future → key), as they
    complete. A task that failed or was cancelled, or whose result cannot be fetched
    within RESULT_SECONDS, gets ``failed(key, why)`` (``why``: 'TypeName: message');
    one whose worker died is waited for again (Dask runs it elsewhere); with no
    worker at all for NO_WORKER_SECONDS, every task still waiting gets
    ``failed(key, why)`` too. ``progress(done, total, elapsed)`` counts ``size`` of
    each result, at least every HEARTBEAT seconds; ``cancel()`` is polled every
    TICK: the results so far come back. On the way out, by any path, the tasks still
    pending are cancelled on the cluster. The sweep and the op corpus both collect
    this way."""
    arrived: queue.Queue = queue.Queue()
    for future in futures:
        future.add_done_callback(arrived.put)
    pending = dict(futures)
    # Read while Dask had lost its result: waited for again once Dask has it pending
    # (or done) again. Dask calls a done callback at once for a lost future, so
    # asking for one now would hand it straight back, again and again.
    lost: set = set()
    done: dict = {}
    count = 0
    start = last_call = last_check = time.perf_counter()
    workerless_since = None
    try:
        while pending:
            if cancel is not None and cancel():
                break
            try:
                future = arrived.get(timeout=TICK)
            except queue.Empty:
                future = None
            now = time.perf_counter()
            if future is not None and future in pending:
                outcome = _outcome(future)
                if outcome is None:  # its worker died: Dask computes it again
                    lost.add(future)
                    future = None  # nothing new to report
                else:
                    key = pending.pop(future)
                    result, why = outcome
                    done[key] = result if why is None else failed(key, why)
                    count += size(done[key])
            for again in [f for f in lost if f.status != "lost"]:
                lost.discard(again)
                again.add_done_callback(arrived.put)
            if now - last_check >= HEARTBEAT:
                last_check = now
                if _thread_slots(client):
                    workerless_since = None
                elif workerless_since is None:
                    workerless_since = now
                elif now - workerless_since >= NO_WORKER_SECONDS:
                    why = (f"no Dask worker for {NO_WORKER_SECONDS:g} s at "
                           f"{executor.describe()}; this point was never run")
                    for key in pending.values():
                        done[key] = failed(key, why)
                        count += size(done[key])
                    pending.clear()
            if progress is not None and (future is not None or now - last_call >= HEARTBEAT):
                last_call = now
                progress(count, total, now - start)
    finally:
        waiting = [f for f in futures if f.status == "pending"]
        if waiting:  # best effort: the scheduler may be gone
            with contextlib.suppress(Exception):
                client.cancel(waiting, force=True)
    return done


def _outcome(future: Future) -> tuple[object, str | None] | None:
    """A completed task's (result, None), or (None, why) when it failed, was
    cancelled or its result cannot be fetched; None when it is pending or lost again
    (its worker died, before it finished or while its result was fetched)."""
    try:
        if future.status == "finished":
            return future.result(timeout=RESULT_SECONDS), None
        if future.status == "error":
            return None, reason(future.exception(timeout=RESULT_SECONDS))
        if future.status == "cancelled":
            future.result(timeout=0)  # raises, saying why Dask cancelled it
            return None, "cancelled by Dask"
        return None  # pending or lost: Dask computes it again
    except Exception as exc:  # noqa: BLE001 (a task that cannot be read: say why)
        if future.status in ("pending", "lost"):  # its worker died while we fetched it
            return None
        return None, reason(exc)


def _here(rows: list[dict], device: str) -> list[dict]:
    """Rows made in this process for points that ran on no worker: this process's
    provenance, with an empty ``worker``."""
    stamp = {**provenance(device), "worker": ""}
    for row in rows:
        row.update(stamp)
    return rows
