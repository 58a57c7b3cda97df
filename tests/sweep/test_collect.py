"""The Dask collector that the sweep and the op corpus share (``cluster.collect``,
which reads each task with ``cluster._outcome``): what a finished, failed,
cancelled, pending or lost task gives, that a result lost with the last worker
still ends in the no-worker error instead of a loop, and that leaving early
cancels what is still waiting. Fakes stand in for Dask's futures and client here
(what collect uses of them), with Dask's own rule for done callbacks: at once,
unless the future is pending. One test runs both callers on a real in-process
cluster on 127.0.0.1."""

from __future__ import annotations

import logging
import time

import pytest
from distributed import LocalCluster
from distributed.client import FutureCancelledError

import gradlab.corpus.run as corpus_run
import gradlab.sweep.cluster as cluster
from gradlab.sweep.executor import Executor
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import run_sweep

ADDRESS = "tcp://127.0.0.1:8786"  # only named in messages: nothing connects to it
NEVER_RAN = (f"no Dask worker for 0.1 s at the Dask scheduler at {ADDRESS}; "
             "this point was never run")


class FakeFuture:
    """A Dask Future as collect uses it. Like Dask's, ``add_done_callback`` calls
    back at once unless the future is pending (distributed.client.done_callback
    waits only while the status is "pending")."""

    def __init__(self, status: str = "pending", result=None, error: Exception | None = None):
        self.status, self._result, self._error = status, result, error
        self.waiting: list = []
        self.asked = 0  # add_done_callback calls

    def add_done_callback(self, fn) -> None:
        self.asked += 1
        if self.status == "pending":
            self.waiting.append(fn)
        else:
            fn(self)

    def settle(self, status: str, result=None) -> None:
        self.status, self._result = status, result
        waiting, self.waiting = self.waiting, []
        for fn in waiting:
            fn(self)

    def result(self, timeout=None):
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self, timeout=None):
        return self._error


class FakeClient:
    """The scheduler's thread count (``nthreads``, asked once a heartbeat: each ask
    runs the next of ``beats``) and ``cancel``, recorded."""

    def __init__(self, threads: int = 1, beats=()):
        self.threads, self.beats, self.cancelled = threads, list(beats), []

    def nthreads(self) -> dict:
        if self.beats:
            self.beats.pop(0)()
        return {"tcp://127.0.0.1:1": self.threads} if self.threads else {}

    def cancel(self, futures, force=False) -> None:
        self.cancelled.append((list(futures), force))


@pytest.fixture
def fast(monkeypatch):
    """The collector's clock in hundredths: TICK 0.01 s, HEARTBEAT 0.02 s, no worker
    for 0.1 s."""
    monkeypatch.setattr(cluster, "TICK", 0.01)
    monkeypatch.setattr(cluster, "HEARTBEAT", 0.02)
    monkeypatch.setattr(cluster, "NO_WORKER_SECONDS", 0.1)


def collect(client: FakeClient, futures: dict, seconds: float = 30.0, **kwargs) -> dict:
    """cluster.collect with error results ("failed", key, why), each of size 1; it
    gives up after ``seconds`` (its cancel), so a collector that loops fails the
    test instead of hanging it."""
    deadline = time.monotonic() + seconds
    kwargs.setdefault("cancel", lambda: time.monotonic() > deadline)
    kwargs.setdefault("progress", None)
    return cluster.collect(client, futures, len(futures),
                           failed=lambda key, why: ("failed", key, why), size=lambda r: 1,
                           executor=Executor(scheduler=ADDRESS), **kwargs)


# ------------------------------------------------------------------ reading one task

@pytest.mark.parametrize("future, outcome", [
    (FakeFuture("finished", result=["row"]), (["row"], None)),
    (FakeFuture("error", error=ValueError("boom on the worker")),
     (None, "ValueError: boom on the worker")),
    (FakeFuture("cancelled", error=FutureCancelledError("k", reason="scheduler-restart")),
     (None, f"FutureCancelledError: "
            f"{FutureCancelledError('k', reason='scheduler-restart')}")),
    (FakeFuture("finished", error=TimeoutError("timed out after 60 s.")),
     (None, "TimeoutError: timed out after 60 s.")),
    (FakeFuture("pending"), None),
    (FakeFuture("lost"), None),
], ids=["finished", "error", "cancelled", "fetch-timed-out", "pending", "lost"])
def test_a_task_reads_as_its_result_why_it_has_none_or_not_yet(future, outcome):
    assert cluster._outcome(future) == outcome


def test_a_result_lost_while_it_is_fetched_is_not_yet():
    """Its worker died during the fetch: Dask has it lost (then pending again)."""
    future = FakeFuture("finished")

    def fetch(timeout=None):
        future.status = "lost"
        raise OSError("Couldn't gather 1 keys")

    future.result = fetch
    assert cluster._outcome(future) is None


# ------------------------------------------------------------------ collecting

def test_results_and_failures_come_back_by_key(fast):
    calls = []
    ok, bad = FakeFuture("finished", result=["a", "b"]), FakeFuture("error",
                                                                     error=KeyError("x"))
    done = collect(FakeClient(), {ok: 7, bad: 8},
                   progress=lambda count, total, elapsed: calls.append((count, total)))
    assert done == {7: ["a", "b"], 8: ("failed", 8, "KeyError: 'x'")}
    assert calls[-1] == (2, 2)


def test_a_result_lost_with_the_last_worker_ends_in_the_no_worker_error(fast):
    """A lost future's done callback comes back at once: asking for it again at once
    loops, and the no-worker clock was only read when nothing arrived, so the
    collector spun until cancelled. It now waits, and the clock runs."""
    lost = FakeFuture("lost")
    done = collect(FakeClient(threads=0), {lost: 0})
    assert done == {0: ("failed", 0, NEVER_RAN)}
    assert lost.asked == 1  # not asked again while lost


def test_a_lost_result_is_read_once_dask_has_computed_it_again(fast):
    future = FakeFuture("lost")
    beats = [lambda: setattr(future, "status", "pending"),  # Dask runs it again
             lambda: future.settle("finished", ["row"])]
    done = collect(FakeClient(beats=beats), {future: 3})
    assert done == {3: ["row"]} and future.asked == 2


def test_with_no_worker_every_task_still_waiting_is_a_failure(fast):
    ok, waiting = FakeFuture("finished", result=["a"]), FakeFuture("pending")
    done = collect(FakeClient(threads=0), {ok: 0, waiting: 1})
    assert done == {0: ["a"], 1: ("failed", 1, NEVER_RAN)}


@pytest.mark.parametrize("how", ["cancel", "progress-raises"])
def test_leaving_early_cancels_the_tasks_still_pending(fast, how):
    ok, waiting = FakeFuture("finished", result=["a"]), FakeFuture("pending")
    client = FakeClient()
    calls = []

    def progress(count, total, elapsed):
        calls.append(count)
        if how == "progress-raises":
            raise KeyboardInterrupt  # a rerun, a closed tab, Ctrl-C

    if how == "cancel":
        assert collect(client, {ok: 0, waiting: 1}, progress=progress,
                       cancel=lambda: bool(calls)) == {0: ["a"]}
    else:
        with pytest.raises(KeyboardInterrupt):
            collect(client, {ok: 0, waiting: 1}, progress=progress)
    assert client.cancelled == [([waiting], True)]


# ------------------------------------------------------------------ both callers, real Dask

@pytest.fixture(scope="module")
def scheduler():
    """A real Dask scheduler on 127.0.0.1 with one in-process worker: the tasks'
    functions are looked up in this process, so a test can replace them."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.CRITICAL) as local:
        yield local.scheduler_address


def test_the_sweep_and_the_corpus_name_a_task_that_raised_alike(scheduler, monkeypatch):
    """A task that raises on its worker: the sweep's points and the corpus's job
    become error rows, with the same reason."""
    def raises(*args, **kwargs):
        raise RuntimeError("exploded on the worker")

    monkeypatch.setattr(cluster, "run_unit", raises)
    monkeypatch.setattr(corpus_run, "run_job", raises)
    executor = Executor(scheduler=scheduler)
    sweep = run_sweep(Sweep(dims=(2, 3), methods=("autograd",)), executor=executor)
    ops = corpus_run.run_ops([corpus_run.Job("abs", 0, ("float32", "float16"))], executor)
    assert sweep.attrs["complete"] and ops.attrs["complete"]
    assert list(sweep["error"]) == ["RuntimeError: exploded on the worker"] * 2
    assert (sweep["worker"] == "").all()
    assert list(ops["status"]) == ["error", "error"]
    assert list(ops["dtype"]) == ["float32", "float16"]
    assert (ops["evidence"] == "error: RuntimeError: exploded on the worker").all()
