"""Sweeps on Dask: the executor config, the plan, and real clusters on 127.0.0.1.

A real ``dask scheduler`` and two ``dask worker`` processes (started here, with
PYTHONPATH=<repo root> so they import this checkout's gradlab, and stopped by
their process ids) run the same sweep as the serial CLI and ``--workers 2``: the
CSVs are identical but for the volatile columns. Killing a worker mid-sweep
neither hangs nor loses the sweep.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.forkserver
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dask
import pandas as pd
import pytest
from dask.utils import parse_timedelta
from distributed import Client

import gradlab.sweep.cluster as cluster
from gradlab.cli.main import main
from gradlab.cli.sweep import torch_warning
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.sweep import forkserver, schema
from gradlab.sweep.executor import ENV_SCHEDULER, Executor, usable_cores
from gradlab.sweep.export import read_csv_bytes, to_csv_bytes
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import run_sweep

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 180  # a loaded 2-core machine imports torch slowly
#: The identical-numbers grid: m = 4096 (MKL split its float64 dot by thread), one and
#: three tokens, every dtype, ε = 0 and > 0, two variants, kron where J ≤ 16 MiB (m ≤ 64):
#: 192 points.
FLAGS = ["--m", "2,64,4096", "--n", "8,33", "--batch", "1,3", "--dtype", "all", "--eps",
         "0,1e-5", "--seed", "0", "--variant", "none,wrong-mean", "--method", "all",
         "--kron-budget-mib", "16"]
#: A grid of many units of similar size, so both workers are busy when one is killed.
KILL_SWEEP = Sweep(dims=(96, 128, 160, 192), dtypes=("float32", "float16"), eps=(0.0, 1e-5),
                   seeds=tuple(range(6)), methods=("autograd", "structured"))


# ------------------------------------------------------------------ the executor config

@pytest.mark.parametrize("kwargs, message", [
    (dict(workers=-1), r"^workers must be a whole number ≥ 1"),
    (dict(workers=1.5), r"^workers must be a whole number"),
    (dict(workers=True), r"^workers must be a whole number"),
    (dict(scheduler="localhost"), r"^scheduler must be a Dask scheduler address such as "
                                  r"tcp://127\.0\.0\.1:8786"),
    (dict(scheduler="tcp://127.0.0.1:99999"), r"port 1–65535"),
    (dict(scheduler="http://127.0.0.1:8786"), r"^scheduler must be"),
    (dict(scheduler=8786), r"^scheduler must be"),
    (dict(workers=2, scheduler="tcp://127.0.0.1:8786"), r"give one of them, not both"),
], ids=["workers-negative", "workers-float", "workers-bool", "no-port", "port-too-big",
        "http", "not-a-string", "both"])
def test_a_bad_executor_names_its_field(kwargs, message):
    with pytest.raises(GradlabError, match=message):
        Executor(**kwargs)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786",
                                     "tls://sched.example.org:8786", "tcp://[::1]:8786",
                                     " tcp://localhost:1 "])
def test_dask_address_forms_are_accepted(address):
    assert Executor(scheduler=address).scheduler == address.strip()


def test_more_local_workers_than_cores_are_refused_before_any_work():
    with pytest.raises(GradlabError, match=rf"workers must be ≤ {usable_cores()}, the cores"):
        run_sweep(Sweep(), executor=Executor(workers=usable_cores() + 1))


def test_the_dashboard_reads_its_scheduler_from_the_environment():
    assert Executor.from_env({}) == Executor() and Executor.from_env({ENV_SCHEDULER: " "}).serial
    assert Executor.from_env({ENV_SCHEDULER: "tcp://10.0.0.5:8786"}).scheduler == \
        "tcp://10.0.0.5:8786"
    with pytest.raises(GradlabError, match=rf"^{ENV_SCHEDULER} must be a Dask scheduler"):
        Executor.from_env({ENV_SCHEDULER: "nowhere"})


def test_local_workers_share_the_cores_out():
    assert Executor(workers=1).threads_per_worker() == usable_cores()
    assert Executor(workers=usable_cores()).threads_per_worker() == 1


# ------------------------------------------------------------------ the plan

@pytest.mark.parametrize("workers", [1, 2, 8])
def test_the_plan_runs_every_case_once_biggest_first(workers):
    sweep = Sweep.default()
    units = cluster.plan(sweep, Limits(), workers)
    cases = [c for u in sorted(units, key=lambda u: u.index) for c in u.cases]
    assert cases == list(sweep.cases())  # serial order, each case once
    costs = [u.cost for u in units]
    assert costs == sorted(costs, reverse=True)
    assert units[0].cases[0].m == 4096
    for unit in units:  # a unit shares one draw: one group
        assert len({(c.m, c.n, c.batch, c.scale, c.seed) for c in unit.cases}) == 1


def test_a_group_bigger_than_a_workers_share_is_cut_by_dtype():
    sweep = Sweep.default()
    whole = cluster.plan(sweep, Limits(), 1)
    assert len(whole) == len(list(sweep.groups()))
    many = cluster.plan(sweep, Limits(), 8)  # a 4096 group is more than 1/8 of the work
    big = [u for u in many if u.cases[0].m == 4096]
    assert len(big) == 3 * len(sweep.dtypes)
    assert all(len({c.dtype for c in u.cases}) == 1 for u in big)


def test_run_unit_outside_a_worker_stamps_this_host():
    sweep = Sweep(dims=(3,), dtypes=("float32", "float16"), methods=("autograd", "structured"))
    rows = cluster.run_unit(sweep, sweep.cases(), Limits(), "cpu", 0)
    assert len(rows) == 2 and {r["worker"] for r in rows} == {socket.gethostname()}
    assert all(r["error"] == "" for r in rows)


def test_mixed_torch_versions_are_a_warning():
    frame = pd.DataFrame()
    frame.attrs["torch_versions"] = {"2.13.0": 400, "2.12.1": 32}
    warning = torch_warning(frame)
    assert warning.startswith("gradlab: warning: the workers ran different torch versions")
    assert "2.12.1 (32 points), 2.13.0 (400 points)" in warning
    frame.attrs["torch_versions"] = {"2.13.0": 432}
    assert torch_warning(frame) is None


# ------------------------------------------------------------------ real processes

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskProcesses:
    """A ``dask scheduler`` and ``workers`` × ``dask worker`` on 127.0.0.1, started as
    processes of their own and stopped by their pids. Workers have no nanny (a
    killed worker stays dead) and one thread; they import this checkout's gradlab."""

    def __init__(self, tmp: Path, workers: int = 2, env: dict | None = None):
        self.tmp, self.procs, self.workers = tmp, [], []
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                    **(env or {})}
        try:
            self._start(["scheduler", "--host", "127.0.0.1", "--port",
                         self.address.rsplit(":", 1)[1], "--no-dashboard",
                         "--idle-timeout", "600"], "scheduler")
            for i in range(workers):
                self.workers.append(self._start(
                    ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                     "--no-nanny", "--no-dashboard", "--name", f"w{i}",
                     "--death-timeout", "120"], f"worker{i}"))
            # Client retries the connection until the scheduler listens (bounded), and
            # wait_for_workers polls the scheduler until both workers joined (bounded).
            with Client(self.address, timeout=START_SECONDS, set_as_default=False) as client:
                if workers:
                    client.wait_for_workers(workers, timeout=START_SECONDS)
        except BaseException:
            self.stop()
            raise

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop)
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=self.tmp,
                                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        proc.log = log
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def client(self) -> Client:
        return Client(self.address, timeout=30, set_as_default=False)

    def stop(self) -> None:
        """SIGTERM to the workers, then the scheduler, each waited for (SIGKILL after
        15 s): every process this started is gone."""
        workers, scheduler = self.procs[1:], self.procs[:1]
        for group in (workers, scheduler):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
                proc.log.close()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    procs = DaskProcesses(tmp_path_factory.mktemp("dask"))
    try:
        yield procs
    finally:
        procs.stop()


def _cli(tmp_path: Path, name: str, *extra: str) -> tuple[pd.DataFrame, str]:
    """``python -m gradlab sweep FLAGS …`` in a process of its own: (its CSV, stderr)."""
    out = tmp_path / f"{name}.csv"
    done = subprocess.run([sys.executable, "-m", "gradlab", "sweep", *FLAGS, "--no-progress",
                           "--out", str(out), *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return read_csv_bytes(out.read_bytes(), f"{name}.csv"), done.stderr


def assert_same_numbers(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same rows in the same order with the same values, bit for bit, but for the
    volatile columns (wall times, provenance); as CSV bytes too."""
    a, b = a.drop(columns=list(schema.VOLATILE)), b.drop(columns=list(schema.VOLATILE))
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_exact=True)
    assert to_csv_bytes(a) == to_csv_bytes(b)


@pytest.fixture(scope="module")
def serial_csv(tmp_path_factory) -> pd.DataFrame:
    frame, _ = _cli(tmp_path_factory.mktemp("serial"), "serial")
    assert len(frame) == 192 and (frame["error"] == "").all()
    assert (frame.loc[frame["m"] <= 64, "kron_status"] != "skipped").all()
    assert (frame["worker"] == socket.gethostname()).all()
    return frame


def test_two_local_workers_give_the_serial_csv(serial_csv, tmp_path):
    frame, stderr = _cli(tmp_path, "workers", "--workers", "2")
    assert_same_numbers(serial_csv, frame)
    workers = set(frame["worker"])
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert (frame["threads"] == Executor(workers=2).threads_per_worker()).all()
    assert "on a local Dask cluster of 2 worker processes" in stderr
    assert "warning" not in stderr


def test_a_running_scheduler_gives_the_serial_csv(serial_csv, dask_cluster, tmp_path):
    frame, stderr = _cli(tmp_path, "scheduler", "--scheduler", dask_cluster.address)
    assert_same_numbers(serial_csv, frame)
    with dask_cluster.client() as client:
        assert set(frame["worker"]) <= set(client.nthreads())
    assert (frame["threads"] == 1).all()  # OMP_NUM_THREADS=1 on these workers
    assert f"on the Dask scheduler at {dask_cluster.address}" in stderr


def test_workers_draw_the_same_bits_as_this_process(dask_cluster):
    """A sweep draws its inputs on the workers: each worker process gives the bits
    drawn here (one torch thread there)."""
    from gradlab.problems.seed.inputs import draw, draw_digest

    args = (300, 500, 2, 7, 0.5)
    with dask_cluster.client() as client:
        digests = client.run(lambda: draw_digest(draw(*args)))
    assert len(digests) == 2 and set(digests.values()) == {draw_digest(draw(*args))}


def test_a_point_that_raises_on_a_worker_is_a_row(dask_cluster):
    from tests.sweep.worker_faults import MESSAGE, Float16Asserts

    sweep = Sweep(dims=(2, 8, 64), dtypes=("float32", "float16"), eps=(0.0, 1e-5),
                  seeds=(0, 1), methods=("autograd", "structured"))
    with dask_cluster.client() as client:
        client.register_plugin(Float16Asserts())
        try:
            frame = run_sweep(sweep, executor=Executor(scheduler=dask_cluster.address))
        finally:
            client.unregister_worker_plugin(Float16Asserts.name)
    assert len(frame) == sweep.points and frame.attrs["complete"]
    half = frame["dtype"] == "float16"
    assert (frame.loc[half, "error"] == f"AssertionError: {MESSAGE}").all()
    assert frame.loc[half, "structured_rel_err"].isna().all()
    assert frame.loc[half, "worker"].str.startswith("tcp://127.0.0.1:").all()
    serial = run_sweep(sweep)
    assert_same_numbers(serial[~half], frame[~half])


def test_a_cluster_without_gradlab_is_refused_before_any_work(dask_cluster, monkeypatch,
                                                             capsys):
    with dask_cluster.client() as client:
        assert cluster.without_gradlab(client) == []  # the real probe, where it imports
    monkeypatch.setattr(cluster, "without_gradlab",
                        lambda client: ["the worker tcp://10.0.0.7:40211"])
    argv = ["sweep", "--no-progress", "--dims", "2", "--scheduler", dask_cluster.address]
    assert run_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gradlab: error: --scheduler {dask_cluster.address}: the worker "
                   "tcp://10.0.0.7:40211 cannot import gradlab.sweep.cluster; install this "
                   "gradlab there or set PYTHONPATH to this checkout (docs/sweeps.md)"]


def _tasks_of(client: Client, prefix: str) -> list[str]:
    return client.run_on_scheduler(
        lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks if str(k).startswith(
            prefix)])


def _forgotten(dask_cluster) -> None:
    """The scheduler forgets the sweep's tasks: a bounded poll, a round trip each."""
    with dask_cluster.client() as client:
        deadline = time.monotonic() + 30
        while (left := _tasks_of(client, "gradlab-sweep")) and time.monotonic() < deadline:
            pass
        assert left == []


def test_cancel_cancels_the_sweeps_tasks_on_the_cluster(dask_cluster):
    calls = []
    frame = run_sweep(KILL_SWEEP, executor=Executor(scheduler=dask_cluster.address),
                      progress=lambda done, total, elapsed: calls.append(done),
                      cancel=lambda: bool(calls))
    assert frame.attrs["complete"] is False and len(frame) < KILL_SWEEP.points
    assert list(frame.columns) == list(schema.COLUMNS)
    _forgotten(dask_cluster)


def test_a_rerun_raised_from_progress_cancels_the_sweeps_tasks(dask_cluster):
    """What Streamlit does on a rerun or a closed tab: the next widget call raises."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    def progress(done, total, elapsed):
        raise StopException()

    with pytest.raises(StopException):
        run_sweep(KILL_SWEEP, executor=Executor(scheduler=dask_cluster.address),
                  progress=progress)
    _forgotten(dask_cluster)


@pytest.fixture(scope="module")
def kill_serial() -> pd.DataFrame:
    return run_sweep(KILL_SWEEP)


def _unit_of(frame: pd.DataFrame, unit: cluster.Unit) -> pd.DataFrame:
    keys = {(c.m, c.dtype, c.eps, c.seed) for c in unit.cases}
    mask = [k in keys for k in zip(frame["m"], frame["dtype"], frame["eps"], frame["seed"])]
    return frame[mask]


@pytest.mark.parametrize("scenario", ["retried", "killed-worker", "all-gone"])
def test_a_killed_worker_neither_hangs_nor_loses_the_sweep(kill_serial, tmp_path,
                                                            monkeypatch, scenario):
    """Kill (SIGKILL) the worker that is running a unit, once the first unit is in.
    retried: Dask runs its unit again on the other worker, and the CSV is the serial
    one. killed-worker (allowed-failures 0): its unit's points are error rows. all-gone
    (both killed): after NO_WORKER_SECONDS the points still waiting are error rows."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"} \
        if scenario == "killed-worker" else {}
    monkeypatch.setattr(cluster, "NO_WORKER_SECONDS", 3.0)
    procs = DaskProcesses(tmp_path, env=env)
    try:
        with procs.client() as client:
            pids = client.run(os.getpid)
            killed: dict[str, list[str]] = {}

            def progress(done, total, elapsed):
                if killed or not done:
                    return
                busy = {w: keys for w, keys in client.processing().items() if keys}
                victims = list(pids) if scenario == "all-gone" else list(busy)[:1]
                if busy:
                    for worker in victims:
                        os.kill(pids[worker], signal.SIGKILL)
                        killed[worker] = [str(k) for k in busy.get(worker, ())]

            frame = run_sweep(KILL_SWEEP, executor=Executor(scheduler=procs.address),
                              progress=progress)
    finally:
        procs.stop()
    assert killed, "no worker was busy when the first unit came in"
    assert len(frame) == KILL_SWEEP.points and frame.attrs["complete"]
    units = {u.index: u for u in cluster.plan(KILL_SWEEP, Limits(), 2)}
    in_flight = [units[int(k.rsplit("-", 1)[1])] for keys in killed.values() for k in keys]
    ok = frame["error"] == ""
    assert_same_numbers(kill_serial[ok.to_numpy()], frame[ok])
    if scenario == "retried":
        assert ok.all()
        survivor = (set(pids) - set(killed)).pop()
        for unit in in_flight:
            assert (_unit_of(frame, unit)["worker"] == survivor).all()
    elif scenario == "killed-worker":
        errors = frame.loc[~ok, "error"]
        assert len(errors) and errors.str.startswith("KilledWorker: ").all()
        # A unit the scheduler still listed on the killed worker either died with it (its
        # points are error rows) or had finished there and its result was lost before
        # it was gathered: Dask then runs it again on the survivor, which is no failure
        # of the unit ("Couldn't gather … rescheduling"), and its rows are the serial
        # ones (checked above). At least one died with the worker.
        survivor = (set(pids) - set(killed)).pop()
        died = [unit for unit in in_flight if (_unit_of(frame, unit)["error"] != "").all()]
        assert died
        for unit in in_flight:
            if unit not in died:
                assert (_unit_of(frame, unit)["worker"] == survivor).all()
    else:
        errors = frame.loc[~ok, "error"]
        odd = errors[~errors.str.startswith("no Dask worker for 3 s")].unique()
        assert len(errors) and not len(odd), odd
        assert (frame.loc[~ok, "worker"] == "").all()


def test_the_op_corpus_collects_as_the_sweep_does_no_worker_means_error_rows(tmp_path,
                                                                             monkeypatch):
    """The op corpus runs its jobs through the sweep's collector (cluster.collect): at a
    scheduler with no worker, its jobs become error rows after NO_WORKER_SECONDS
    instead of a run that never ends."""
    pytest.importorskip("expecttest")
    from gradlab.corpus.run import jobs_for, run_ops

    monkeypatch.setattr(cluster, "NO_WORKER_SECONDS", 2.0)
    procs = DaskProcesses(tmp_path, workers=0)
    try:
        frame = run_ops(jobs_for(["abs"], [0], ["float32"]), Executor(scheduler=procs.address))
    finally:
        procs.stop()
    assert frame.attrs["complete"] and list(frame["status"]) == ["error"]
    assert frame["evidence"].str.startswith("error: no Dask worker for 2 s").all()


# ------------------------------------------------------------------ bad flags

BAD = {
    "workers-zero": (["--workers", "0"], "--workers must be ≥ 1 (got 0)"),
    "workers-over-cores": (["--workers", str(usable_cores() + 1)],
                           f"--workers must be ≤ {usable_cores()}, the cores here"),
    "workers-not-int": (["--workers", "two"], "--workers: invalid int value"),
    "both": (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"],
             "--scheduler: not allowed with argument --workers"),
    "bad-address": (["--scheduler", "somewhere"],
                    "--scheduler must be a Dask scheduler address such as"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_executor_flag_exits_2_with_one_clear_line(capsys, case):
    argv, phrase = BAD[case]
    assert run_main(["sweep", "--no-progress", "--dims", "2", *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert lines[0].startswith("gradlab: error: ") and phrase in lines[0]


def test_an_unreachable_scheduler_exits_2_naming_it(capsys, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    assert run_main(["sweep", "--no-progress", "--dims", "2", "--scheduler", address]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"gradlab: error: --scheduler {address}: could not connect "
                              "within 1 s")


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def _heap_probe() -> dict:
    """On a worker, in the thread its tasks run in: whether a 128 MiB array came from
    an mmap of its own, and whether its pages stay in the heap once freed."""
    import numpy as np

    from gradlab.core.memory import heap_bytes

    big = np.ones(16 << 20)
    mapped = heap_bytes()["mapped"]
    del big
    return {"mapped": mapped, "free_in_heap": heap_bytes()["free"]}


def test_a_local_workers_units_reuse_the_pages_of_the_unit_before():
    """The fork server sets glibc's heap up before it forks (worker_memory, first in
    PRELOAD), so an array over any mmap threshold, made in the thread a worker runs
    its units in, comes from the heap and stays there once freed."""
    assert forkserver.PRELOAD[0] == "gradlab.sweep.worker_memory"
    if not sys.platform.startswith("linux") or cluster.start_method() != "forkserver":
        pytest.skip("the fork server and glibc's mallinfo2 are checked on Linux")
    with cluster.connect(Executor(workers=1)) as client:
        probe = client.submit(_heap_probe, pure=False).result(timeout=60)
    assert probe["mapped"] < 1 << 20, probe
    assert probe["free_in_heap"] >= 128 << 20, probe


def _numpy_huge_pages() -> bool:
    from numpy._core import multiarray

    return multiarray._get_madvise_hugepage()


def test_a_local_workers_numpy_asks_for_no_huge_pages_and_this_process_is_left_alone():
    """worker_memory, imported first by the fork server, turns numpy's transparent huge
    pages off for the workers (a worker's first touches of memory dominate its short
    life); the calling process keeps numpy's own setting."""
    import numpy  # noqa: F401 - this process's numpy, imported before the cluster

    here = _numpy_huge_pages()
    if not sys.platform.startswith("linux") or cluster.start_method() != "forkserver":
        pytest.skip("the fork server is checked on Linux")
    with cluster.connect(Executor(workers=1)) as client:
        (there,) = client.run(_numpy_huge_pages).values()
    assert there is False
    assert _numpy_huge_pages() == here


def test_local_workers_are_forked_from_a_server_that_has_imported_torch():
    """Where the platform has a fork server, a local cluster's workers come from one
    that has imported distributed, torch and gradlab (each spawned worker would import
    them itself); the one ``start_early`` starts, when it has."""
    assert {"torch", "gradlab.sweep.cluster"} <= set(forkserver.PRELOAD)
    if not sys.platform.startswith("linux"):
        pytest.skip("the fork server is checked on Linux")
    assert cluster.start_method() == "forkserver"
    assert forkserver.start_early(["sweep", "--workers", "1"])
    server = multiprocessing.forkserver._forkserver._forkserver_pid
    with cluster.connect(Executor(workers=1)) as client:
        parents = set(client.run(os.getppid).values())
    # A spawned worker's parent is this process (its nanny lives here); a forked one's
    # is the fork server.
    assert parents == {server} and server != os.getpid()


def _background(server) -> dict[str, float]:
    """A Dask server's periodic background work: its callbacks' intervals, in ms."""
    return {name: pc.callback_time for name, pc in server.periodic_callbacks.items()
            if name in ("tick", "monitor", "memory_monitor", "profile", "profile-cycle")}


def test_a_local_cluster_keeps_dasks_background_work_off_the_cores():
    """A local cluster shares the cores with its tasks and serves no dashboard: its
    workers run no statistical profiler (a stack sample of the task every 10 ms, under
    the GIL), and the scheduler, nannies and workers tick and monitor at QUIET's slower
    intervals. Its scheduler sends a worker one unit at a time (SCHEDULING). This
    process's own config is left as it was."""
    ms = {key: parse_timedelta(value) * 1000 for key, value in cluster.QUIET.items()
          if isinstance(value, str)}
    tick = ms["distributed.admin.tick.interval"]
    monitor = ms["distributed.admin.system-monitor.interval"]
    memory = ms["distributed.worker.memory.monitor-interval"]
    before = dask.config.get("distributed")
    link = cluster.connect(Executor(workers=1))
    with link as client:
        workers = list(client.run(lambda dask_worker: _background(dask_worker)).values())
        servers = [link.cluster.scheduler, *link.cluster.workers.values()]
        here = [_background(server) for server in servers]  # the scheduler, the nanny
        saturation = link.cluster.scheduler.WORKER_SATURATION
    assert workers == [{"tick": tick, "monitor": monitor, "memory_monitor": memory}]
    assert here[0] == {"tick": tick, "monitor": monitor}
    assert here[1] == {"tick": tick, "monitor": monitor, "memory_monitor": memory}
    assert saturation == cluster.SCHEDULING["distributed.scheduler.worker-saturation"] == 1
    assert dask.config.get("distributed") == before


def test_the_docs_give_a_local_clusters_settings_as_dasks_environment():
    """docs/sweeps.md gives QUIET and SCHEDULING as environment variables for clusters
    started by hand: exactly those, and Dask reads each as the setting it stands for."""
    text = (ROOT / "docs" / "sweeps.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^ +export (DASK_\w+)=(\S+)$", text, flags=re.M))
    settings = {**cluster.QUIET, **cluster.SCHEDULING}
    assert len(documented) == len(settings)
    code = ("import json, dask\n"
            f"print(json.dumps([dask.config.get(k) for k in {list(settings)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=START_SECONDS, env={**os.environ, **documented})
    assert json.loads(done.stdout) == list(settings.values()), done.stderr


def test_what_a_worker_preloads_imports_no_pandas():
    """The fork server imports PRELOAD before the first worker: pandas (about 0.5 s) is
    for building frames in the calling process, never needed on a worker."""
    code = ("import importlib, sys; from gradlab.sweep import forkserver\n"
            "for name in forkserver.PRELOAD: importlib.import_module(name)\n"
            "print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=START_SECONDS, cwd=Path(__file__).parents[2])
    assert done.stdout.strip() == "False", done.stderr


def _listening() -> set[tuple[str, int]]:
    """(address as /proc/net writes it, port) of every listening TCP socket here."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    address, port = fields[1].split(":")
                    found.add((address, int(port, 16)))
    return found


def test_a_local_cluster_listens_on_loopback_only_and_leaves_8787_free():
    """Only loopback addresses, and no fixed port: Dask's scheduler serves HTTP on 8787
    unless told otherwise (another cluster there meant a warning and another port)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("read from /proc/net")
    before = _listening()
    with cluster.connect(Executor(workers=1)):
        opened = _listening() - before
    assert opened and {address for address, _ in opened} == {"0100007F"}  # 127.0.0.1
    assert 8787 not in {port for _, port in opened}


@pytest.mark.parametrize("argv, workers", [
    (["sweep", "--workers", "2"], 2), (["sweep", "--dims", "2..8", "--workers=3"], 3),
    (["sweep", "--work", "2"], 2), (["sweep"], 0), ([], 0), (["check", "--workers", "2"], 0),
    (["sweep", "--workers", "two"], 0), (["sweep", "--workers"], 0),
    (["sweep", "--workers", "-1"], 0), (["sweep", "--scheduler", "tcp://127.0.0.1:8786"], 0),
], ids=["workers", "equals", "abbreviated", "serial", "empty", "check", "not-int",
        "no-value", "negative", "scheduler"])
def test_the_early_start_reads_sweep_workers_and_nothing_else(argv, workers, capsys):
    assert forkserver.local_workers(argv) == workers
    assert capsys.readouterr() == ("", "")  # the command's own parser reports bad flags


def test_no_early_start_for_more_workers_than_cores():
    assert not forkserver.start_early(["sweep", "--workers", str(usable_cores() + 1)])


def test_the_command_starts_the_fork_server_before_its_own_imports(monkeypatch, capsys):
    """``main`` hands its argv to ``start_early`` first, even when a flag is bad."""
    seen = []
    monkeypatch.setattr(forkserver, "start_early", seen.append)
    assert main(["sweep", "--workers", "2", "--dims", "huge"]) == 2
    assert seen == [["sweep", "--workers", "2", "--dims", "huge"]]
    assert "--dims" in capsys.readouterr().err
