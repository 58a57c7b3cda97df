"""How long a local Dask cluster of 2 workers takes to be ready for gradlab's work.

    python -m bench.bench_cluster_start [--method forkserver|spawn] [--rounds 2]

Each round: ``cluster.connect(Executor(workers=2))`` (start), one task per worker that
imports gradlab's cluster module, torch with it (first task), and closing. With
``forkserver`` (what ``cluster.local_cluster`` uses where it can) the workers are forked
from a server that has imported them once; ``spawn`` is Dask's default, each worker
importing them itself. Later rounds in one process reuse a running fork server.
"""

from __future__ import annotations

import argparse
import time

from gradlab.sweep import cluster
from gradlab.sweep.executor import Executor


def first_task() -> int:
    import os

    import gradlab.sweep.cluster  # noqa: F401 (what a worker imports for its first unit)
    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", choices=("forkserver", "spawn"), default="forkserver")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.method == "spawn":
        cluster.start_method = lambda: "spawn"
    for i in range(1, args.rounds + 1):
        t0 = time.perf_counter()
        with cluster.connect(Executor(workers=2)) as client:
            t1 = time.perf_counter()
            workers = list(client.scheduler_info()["workers"])
            client.gather([client.submit(first_task, pure=False, workers=[w])
                           for w in workers])
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        print(f"{args.method} round {i}: start {t1 - t0:.2f} s, first task {t2 - t1:.2f} s, "
              f"close {t3 - t2:.2f} s, in all {t3 - t0:.2f} s")


if __name__ == "__main__":
    main()
