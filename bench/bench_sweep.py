"""Benchmark the sweep runner on the dashboard's default sweep (432 points).

    python -m bench.bench_sweep [--dims 2,4,…,4096] [--repeat 1]

Each repeat is one ``cached_sweep(Sweep.default())`` from a cold cache, timed
as a whole, with timers wrapped around the pieces it calls, so that every
ratio comes from within one run (a load change on the shared machine hits
both sides of it alike):

- ``total``: the whole sweep (target ≤ 30 s);
- ``bare``: the bare computations at each point: the reference, autograd and
  structured (the methods' own timers, the ``*_seconds`` columns). The reference
  keeps dL/dW as its factors and forms it a block at a time while the metric pass
  compares (``Reference.weight_parts``): that forming is timed as reference too, as
  are the sweep's ε-free part (``pre_activation``, once per dtype) and each case's
  reference, which ``points.group_rows`` takes;
- ``run_check rest``: the rest of ``run_check``: the errors against the
  reference, max |Δ|, the scale residual, notes and verdicts;
- ``draw``, ``round``: the float64 draws (once per size and seed) and their
  rounding to each dtype;
- ``runner own``: the rest of ``total``: the loop, rows, progress, the frame.

It prints total / bare (target ≤ 1.20), the runner's own share, the time of a
second identical call (from the cache), and where the time goes per size ×
dtype. With ``--repeat N`` each figure is the median of N runs.

    python -m bench.bench_sweep --workers 2 [--repeat 3]

times the same sweep serially and on a local Dask cluster of 2 worker processes,
in the same run (each repeat: serial, then Dask; target: Dask ≤ 0.75 × serial),
and says where the Dask run's time goes, from Dask's task stream:

- ``start``: starting the cluster (N processes) and connecting to it;
- ``run``: submitting the units to the last row back, with each worker's busy
  time (the sum of its tasks' compute), the per-task cost, the longest task, and
  the rest of ``run`` (scheduling, transfers, workers idle at the end): the
  scheduling overhead;
- ``close``: stopping the cluster;
- ``warm run``: the same sweep again on the running cluster (a dashboard with
  GRADLAB_DASK_SCHEDULER pays no start);
- the CPU of Dask's own work over the run, beside the tasks: the calling process
  (scheduler, nannies, client) and each worker's threads other than the task's;
  and how far apart the two workers finished.

    python -m bench.bench_sweep --workers 2 --dask-defaults [--repeat 3]

adds, each repeat, a run on a local cluster with Dask's default settings instead of
``cluster.QUIET`` and ``cluster.SCHEDULING`` (profiler, ticks and monitors, and two
units per worker at a time), so that both sides come from the same run.

    python -m bench.bench_sweep --workers 2 --cli [--repeat 3]

times the commands a user types, end to end, alternating in the same run:
``python -m gradlab sweep`` and ``python -m gradlab sweep --workers 2`` (the
default sweep, CSV to a file). The command starts its workers' fork server
first thing, so that the workers' imports overlap its own
(gradlab/sweep/forkserver.py); a third command, the same with the fork
server started only when the cluster starts, shows what that saves.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager

import torch

import gradlab.problems.seed.check as seed_check
import gradlab.sweep.points as points
import gradlab.sweep.runner as runner
from gradlab.core.limits import Limits
from gradlab.problems.seed.inputs import Inputs
from gradlab.problems.seed.reference import Reference
from gradlab.sweep import cluster
from gradlab.sweep.executor import Executor
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import cached_sweep, clear_cache

PARTS = ("draw", "round", "reference", "autograd", "structured", "check rest")


class Timers:
    """Wrap the functions the runner calls; add their wall time to ``parts[(m, dtype, part)]``.

    Only the outermost timed call counts toward its part (a draw inside run_check is
    run_check's), except the reference, which is split out of run_check's time.
    """

    def __init__(self):
        self.parts = defaultdict(float)
        self.key = (0, "all")
        self.depth = 0

    def timed(self, part, fn, key_of=None):
        def wrapper(*args, **kwargs):
            if key_of is not None:
                self.key = key_of(*args)
            outer = self.depth == 0 or part == "reference"
            self.depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if outer:
                    self.parts[(*self.key, part)] += time.perf_counter() - start
        return wrapper

    @contextmanager
    def installed(self):
        saved = (points.draw, points.run_check, seed_check.reference_grads,
                 Inputs.to, Reference.weight_parts, points.reference_grads,
                 points.pre_activation)
        points.draw = self.timed("draw", saved[0], lambda m, *a: (m, "all"))
        points.run_check = self.timed("check", saved[1], lambda case, *a:
                                             (case.m, case.dtype))
        seed_check.reference_grads = self.timed("reference", saved[2])
        Reference.weight_parts = self.timed("reference", saved[4])
        # the sweep's own reference: its ε-free part once per dtype, then each case's
        by_inputs = lambda inputs, *a: (inputs.W.shape[0],  # noqa: E731
                                        str(inputs.W.dtype).removeprefix("torch."))
        points.reference_grads = self.timed("reference", saved[5], by_inputs)
        points.pre_activation = self.timed("reference", saved[6], by_inputs)
        to = saved[3]

        def rounding(inputs, dtype):
            key = self.key
            self.key = (key[0], str(dtype).removeprefix("torch."))
            try:
                return self.timed("round", to)(inputs, dtype)
            finally:
                self.key = key
        Inputs.to = rounding
        try:
            yield self
        finally:
            (points.draw, points.run_check, seed_check.reference_grads,
             Inputs.to, Reference.weight_parts, points.reference_grads,
             points.pre_activation) = saved


def one_run(sweep: Sweep) -> dict:
    clear_cache()
    timers = Timers()
    with timers.installed():
        start = time.perf_counter()
        frame = cached_sweep(sweep, Limits(), "cpu")
        total = time.perf_counter() - start
    start = time.perf_counter()
    cached_sweep(sweep, Limits(), "cpu")
    cached = time.perf_counter() - start
    parts = timers.parts
    for (m, dtype), rows in frame.groupby(["m", "dtype"]):
        for name in ("autograd", "structured"):
            parts[m, dtype, name] = float(rows[f"{name}_seconds"].sum())
        parts[m, dtype, "check rest"] = (parts.pop((m, dtype, "check"))
                                         - parts[m, dtype, "reference"]
                                         - parts[m, dtype, "autograd"]
                                         - parts[m, dtype, "structured"])
    sums = {p: sum(v for k, v in parts.items() if k[2] == p) for p in PARTS}
    bare = sums["reference"] + sums["autograd"] + sums["structured"]
    return {"total": total, "cached": cached, "bare": bare, "sums": sums,
            "own": total - sum(sums.values()), "parts": dict(parts)}


def thread_cpu() -> dict[str, float]:
    """This process's CPU seconds so far, by thread name (its id where unnamed)."""
    import threading

    import psutil  # a dependency of distributed

    names = {t.native_id: t.name for t in threading.enumerate()}
    return {names.get(t.id, str(t.id)): t.user_time + t.system_time
            for t in psutil.Process().threads()}


def dask_cpu(before: dict, after: dict) -> float:
    """CPU seconds between two ``thread_cpu`` readings, outside the task threads."""
    return sum(cpu - before.get(name, 0.0) for name, cpu in after.items()
               if "Dask-Default-Threads" not in name)


@contextmanager
def dask_defaults(on: bool):
    """With ``on``, local clusters get Dask's default settings (no QUIET, no SCHEDULING)."""
    saved = cluster.QUIET, cluster.SCHEDULING
    if on:
        cluster.QUIET, cluster.SCHEDULING = {}, {}
    try:
        yield
    finally:
        cluster.QUIET, cluster.SCHEDULING = saved


def dask_run(sweep: Sweep, workers: int, defaults: bool = False) -> dict:
    """One run on a fresh local cluster of ``workers``, timed in parts (see the module
    docstring), then a warm run of the same sweep on the same cluster; ``defaults``:
    the cluster with Dask's default settings."""
    from distributed import get_task_stream

    executor = Executor(workers=workers)
    clear_cache()
    start = time.perf_counter()
    with dask_defaults(defaults), cluster.connect(executor) as client:
        up = time.perf_counter()
        cpu_here, cpu_workers = thread_cpu(), client.run(thread_cpu)
        with get_task_stream(client) as stream:
            rows = cluster.run_on_client(client, sweep, Limits(), None, None, "cpu", executor)
        ran = time.perf_counter()
        own_here = dask_cpu(cpu_here, thread_cpu())
        own_workers = sorted((dask_cpu(cpu_workers[w], after) for w, after
                              in client.run(thread_cpu).items()), reverse=True)
        cluster.run_on_client(client, sweep, Limits(), None, None, "cpu", executor)
        warm = time.perf_counter() - ran
        closing = time.perf_counter()
    end = time.perf_counter()
    assert len(rows) == sweep.points
    units = {u.index: u for u in cluster.plan(sweep, Limits(), workers)}
    tasks = []
    finished = defaultdict(float)
    for task in stream.data:
        parts = defaultdict(float)
        for ss in task["startstops"]:
            parts[ss["action"]] += ss["stop"] - ss["start"]
            finished[task["worker"]] = max(finished[task["worker"]], ss["stop"])
        unit = units[int(str(task["key"]).rsplit("-", 1)[1])]
        tasks.append({"worker": task["worker"], "compute": parts["compute"],
                      "other": sum(v for k, v in parts.items() if k != "compute"),
                      "unit": unit})
    busy = defaultdict(float)
    for t in tasks:
        busy[t["worker"]] += t["compute"]
    longest = max(tasks, key=lambda t: t["compute"])
    c = longest["unit"].cases[0]
    # What `sweep --workers N` costs: start, run, close (not the warm run between).
    return {"total": (ran - start) + (end - closing), "start": up - start, "run": ran - up,
            "close": end - closing, "warm": warm, "tasks": len(tasks),
            "busy": sorted(busy.values(), reverse=True),
            "compute": sum(t["compute"] for t in tasks),
            "other": sum(t["other"] for t in tasks),
            "longest": longest["compute"],
            "longest_unit": f"m = n = {c.m}, seed {c.seed}, "
                            f"{', '.join(sorted({x.dtype for x in longest['unit'].cases}))}",
            "overhead": (ran - up) - max(busy.values()),
            "apart": max(finished.values()) - min(finished.values()),
            "own_here": own_here, "own_workers": own_workers}


def serial_run(sweep: Sweep, threads: int) -> float:
    """Seconds of one serial run from a cold cache with ``threads`` torch threads."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        clear_cache()
        start = time.perf_counter()
        runner.run_sweep(sweep)
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(saved)


def compare_dask(sweep: Sweep, workers: int, repeat: int, defaults: bool = False) -> None:
    """Serial against ``workers`` local Dask workers, alternating, in one process; and
    serial on one torch thread, to show how much of the serial run used the others.
    ``defaults``: each round also runs a cluster with Dask's default settings."""
    threads = torch.get_num_threads()
    runs = [(serial_run(sweep, threads), dask_run(sweep, workers),
             dask_run(sweep, workers, defaults=True) if defaults else None,
             serial_run(sweep, 1)) for _ in range(repeat)]
    print(f"\nserial ({threads} torch threads) against a local Dask "
          f"cluster of {workers} workers ({Executor(workers=workers).threads_per_worker()} "
          f"torch thread(s) each), {len(runs)} run(s), each in one run:")
    for i, (serial, d, plain, one) in enumerate(runs, 1):
        print(f"run {i}: serial {serial:.1f} s, serial on 1 thread {one:.1f} s")
        for name, run in (("Dask", d), ("Dask's defaults", plain)):
            if run is not None:
                print_dask_run(name, run, serial)
    print_spread([d["total"] / serial for serial, d, _, _ in runs])
    if defaults:
        print("with Dask's default settings:")
        print_spread([plain["total"] / serial for serial, _, plain, _ in runs])


def print_dask_run(name: str, d: dict, serial: float) -> None:
    print(f"  {name}: {d['total']:.1f} s: {d['total'] / serial:.2f} × serial (target ≤ "
          f"0.75); warm (cluster already up) {d['warm']:.1f} s: {d['warm'] / serial:.2f} "
          "× serial")
    print(f"    start {d['start']:.1f} s · run {d['run']:.1f} s · close {d['close']:.1f} s")
    print(f"    {d['tasks']} tasks, compute {d['compute']:.1f} s in all "
          f"(workers busy {', '.join(f'{b:.1f}' for b in d['busy'])} s, finished "
          f"{d['apart']:.1f} s apart), per task {d['compute'] / d['tasks']:.2f} s on average; "
          f"transfers/deserialising {d['other']:.2f} s")
    print(f"    longest task {d['longest']:.1f} s ({d['longest_unit']}); scheduling "
          f"overhead (run − busiest worker) {d['overhead']:.1f} s")
    print(f"    Dask's own CPU in the run: {d['own_here']:.2f} s in this process "
          f"(scheduler, nannies, client), {', '.join(f'{c:.2f}' for c in d['own_workers'])} "
          "s in the workers beside their tasks")


#: ``python -m gradlab`` with the fork server started only when the cluster starts.
LATE_START = ("import sys; from gradlab.sweep import forkserver; "
              "forkserver.start_early = lambda argv: False; from gradlab.cli.main import main; "
              "sys.exit(main(sys.argv[1:]))")


def cli_seconds(flags: list[str], late: bool = False) -> float:
    """Wall seconds of ``python -m gradlab sweep FLAGS`` (the default sweep, CSV to a
    temporary file) in a process of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        head = [sys.executable, "-c", LATE_START] if late else [sys.executable, "-m", "gradlab"]
        start = time.perf_counter()
        subprocess.run([*head, "sweep", "--no-progress", "--out", f"{tmp}/sweep.csv", *flags],
                       check=True, capture_output=True)
        return time.perf_counter() - start


def compare_cli(workers: int, repeat: int) -> None:
    """The commands end to end, alternating: serial, --workers N, and --workers N with
    the fork server started late."""
    flags = ["--workers", str(workers)]
    print(f"\nthe commands end to end (default sweep), {repeat} round(s), alternating:")
    ratios = []
    for i in range(1, repeat + 1):
        serial, fast, late = cli_seconds([]), cli_seconds(flags), cli_seconds(flags, late=True)
        ratios.append(fast / serial)
        print(f"round {i}: serial {serial:.1f} s; --workers {workers} {fast:.1f} s: "
              f"{fast / serial:.2f} × serial (target ≤ 0.75); with the fork server started "
              f"late {late:.1f} s: {late / serial:.2f} × serial")
    print_spread(ratios)


def print_spread(ratios: list[float]) -> None:
    """The median and range of the rounds' ratios to serial, when there are several."""
    if len(ratios) > 1:
        print(f"median of {len(ratios)} rounds: {statistics.median(ratios):.2f} × serial "
              f"(target ≤ 0.75; rounds from {min(ratios):.2f} to {max(ratios):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default=None, help="comma list (default: the default's)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0,
                        help="compare serial with a local Dask cluster of this many workers")
    parser.add_argument("--cli", action="store_true",
                        help="with --workers: time the commands end to end instead")
    parser.add_argument("--dask-defaults", action="store_true",
                        help="with --workers: also run a cluster with Dask's default "
                             "settings each round")
    args = parser.parse_args()
    if args.dask_defaults and (args.cli or not args.workers):
        parser.error("--dask-defaults needs --workers N, without --cli")
    if args.cli:
        if not args.workers:
            parser.error("--cli needs --workers N")
        compare_cli(args.workers, args.repeat)
        return
    sweep = Sweep.default()
    if args.dims:
        sweep = dataclasses.replace(sweep, dims=tuple(int(d) for d in args.dims.split(",")))
    print(f"sweep: {sweep.points} points; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    # Warm up: the first op of each dtype pays one-off costs.
    runner.run_sweep(dataclasses.replace(sweep, dims=(2, 64)))
    if args.workers:
        compare_dask(sweep, args.workers, args.repeat, args.dask_defaults)
        return

    runs = [one_run(sweep) for _ in range(args.repeat)]

    def med(get):
        return statistics.median(get(r) for r in runs)

    total, bare, own = med(lambda r: r["total"]), med(lambda r: r["bare"]), med(lambda r: r["own"])
    each = ", ".join(f"{r['total']:.1f}" for r in runs)
    print(f"total: {total:.1f} s (runs: {each}); target ≤ 30 s")
    def each_run(get, fmt="{:.2f}"):
        return "(runs: " + ", ".join(fmt.format(get(r)) for r in runs) + ")"

    print(f"second call (cached): {med(lambda r: r['cached']) * 1e3:.2f} ms")
    print(f"bare (reference + autograd + structured): {bare:.1f} s "
          + each_run(lambda r: r["bare"], "{:.1f}"))
    ratio = med(lambda r: r["total"] / r["bare"])
    print(f"total / bare: {ratio:.2f} " + each_run(lambda r: r["total"] / r["bare"])
          + "; target ≤ 1.20")
    for p in PARTS:
        print(f"  {p:>11}: {med(lambda r, p=p: r['sums'][p]):8.2f} s "
              + each_run(lambda r, p=p: r["sums"][p]))
    print(f"  {'runner own':>11}: {own:8.2f} s "
          f"({med(lambda r: r['own'] / r['total']) * 100:.1f} % of total) "
          + each_run(lambda r: r["own"]))

    print("\nwhere the time goes, per size × dtype (s, summed over the size's points; "
          "draw is per size and seed)")
    print(f"{'m = n':>6} {'dtype':>9} " + " ".join(f"{p:>10}" for p in PARTS)
          + f" {'all':>8}")
    for m in sweep.dims:
        for dt in ["all", *sweep.dtypes]:
            row = [med(lambda r, k=(m, dt, p): r["parts"].get(k, 0.0)) for p in PARTS]
            if not any(row):
                continue
            print(f"{m:>6} {dt:>9} " + " ".join(f"{v:>10.3f}" for v in row)
                  + f" {sum(row):>8.2f}")


if __name__ == "__main__":
    main()
