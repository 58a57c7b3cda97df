"""Where a local Dask cluster's workers are forked from: a fork server that has
imported torch and gradlab once (see gradlab/sweep/cluster.py, ``local_cluster``).

This module imports nothing heavy, so that ``python -m gradlab sweep --workers N``
can start the fork server first thing (``start_early``): it then imports torch
while the command imports its own, on another core, and the workers are forked
from a ready server when the cluster starts.
"""

from __future__ import annotations

import argparse
import multiprocessing

from gradlab.sweep.executor import usable_cores

__all__ = ["local_workers", "PRELOAD", "preload", "start_early", "start_method"]

#: What the fork server imports before it forks the first worker, so each worker
#: starts without importing torch itself (docs/benchmarks.md, "Figures behind the
#: code"); first, ``worker_memory``, which sets glibc's heap up for the workers
#: (gradlab/core/memory.py).
PRELOAD = ("gradlab.sweep.worker_memory", "distributed", "torch", "gradlab.sweep.cluster")


def start_method() -> str:
    """How a local cluster starts its worker processes: ``forkserver`` where the
    platform has it (Linux, macOS), else Dask's default ``spawn``."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() \
        else "spawn"


def preload(context) -> None:
    """Have a fork-server ``context`` import PRELOAD when its server starts (nothing
    for another start method, or once the server runs)."""
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(list(PRELOAD))


def local_workers(argv: list[str]) -> int:
    """N of ``sweep --workers N`` in a command line, else 0; anything unclear is 0
    (the command's own parser says what is wrong with it)."""
    if not argv or argv[0] != "sweep":
        return 0
    parser = _Quiet(add_help=False)
    parser.add_argument("--workers", type=int, default=0)
    try:
        args, _ = parser.parse_known_args(argv[1:])
    except ValueError:
        return 0
    return max(0, args.workers)


class _Quiet(argparse.ArgumentParser):
    """A parser that raises ValueError instead of printing and exiting."""

    def error(self, message):
        raise ValueError(message)


def start_early(argv: list[str]) -> bool:
    """For ``sweep --workers N`` where workers are forked: start the fork server now,
    with PRELOAD; True if it did. It runs until this process exits. Dask's nanny
    forks the workers from it later (the fork server is one per process). An N the
    command will refuse (more than the cores here) starts nothing."""
    if not 1 <= local_workers(argv) <= usable_cores() or start_method() != "forkserver":
        return False
    from multiprocessing import forkserver

    preload(multiprocessing.get_context("forkserver"))
    forkserver.ensure_running()
    return True
