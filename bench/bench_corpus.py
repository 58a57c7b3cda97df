"""The op corpus end to end, serially against ``--workers 2``, in one run.

    python -m bench.bench_corpus [--seed 0] [--repeat 2] [--op NAME ...]

Each round runs ``python -m gradlab ops --no-progress`` (every op and kernel, or the
``--op`` names) serially and then with ``--workers 2``, each in a fresh process, and
prints both wall times (from before the process starts to its exit: import, building
the entries, the Dask cluster's start and close, verify, writing the CSV) and their
ratio. The two runs of a round alternate which goes first, so that a slow spell of
the shared machine does not always fall on one. The CSVs must agree row for row in
status; the script says how many rows differ in their numbers (a serial run uses
torch's two threads, a worker one, and torch's own parallel reductions, such as
layer_norm's ∂weight, then sum in another order; a serial run on one thread,
OMP_NUM_THREADS=1, gives the workers' CSV bit for bit but for where and when).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WHERE = ["timestamp", "worker", "threads"]


def run(args: list[str], out: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gradlab", "ops", "--no-progress",
                           "--out", str(out), *args], cwd=ROOT, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"gradlab ops {' '.join(args)} exited {proc.returncode}:\n"
                         f"{proc.stderr[-2000:]}")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", default="0")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--op", action="append", default=[])
    args = parser.parse_args(argv)
    common = ["--seed", args.seed] + [f"--op={name}" for name in args.op]
    print("| round | serial (s) | --workers 2 (s) | ÷ serial | the two CSVs |\n"
          "|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        serial_csv, dask_csv = Path(tmp, "serial.csv"), Path(tmp, "dask.csv")
        for round_ in range(1, args.repeat + 1):
            if round_ % 2:
                serial = run(common, serial_csv)
                dask = run(common + ["--workers", "2"], dask_csv)
            else:
                dask = run(common + ["--workers", "2"], dask_csv)
                serial = run(common, serial_csv)
            a = pd.read_csv(serial_csv).drop(columns=WHERE)
            b = pd.read_csv(dask_csv).drop(columns=WHERE)
            if len(a) != len(b) or not a["status"].equals(b["status"]):
                raise SystemExit("the serial and the workers' CSVs differ in their rows or "
                                 "statuses")
            differ = ((a != b) & ~(a.isna() & b.isna())).any(axis=1).sum()
            print(f"| {round_} | {serial:.1f} | {dask:.1f} | {dask / serial:.2f} | {len(a)} "
                  f"rows, statuses equal, {differ} differ in digits |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
