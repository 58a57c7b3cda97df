"""A sweep's CSV, written and read back (gradlab/sweep/export.py, docs/csv.md).

    python -m bench.bench_csv [--reps 5] [--large-reps 3]

- the default sweep's CSV (``Sweep.default()``: 432 rows): ``to_csv_bytes`` and
  ``read_csv_bytes`` (which checks every column against the schema), median and
  range over ``--reps``;
- a large export just under the default upload limit (``Limits().upload_bytes``,
  50 MiB): the default sweep's rows repeated, each copy with seeds of its own, so
  that the Compare page could take it; written and read ``--large-reps`` times;
- the process's peak resident memory (VmHWM) after each part, and the bytes.

Every read must give back the frame that was written (the round trip of docs/csv.md),
or the script stops. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from gradlab.core.limits import Limits, MiB
from gradlab.sweep.export import read_csv_bytes, to_csv_bytes
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import run_sweep


def peak_mib() -> float:
    """The process's resident high-water mark (VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise LookupError("VmHWM not in /proc/self/status")


def timed(call, reps: int) -> tuple[list[float], object]:
    """Seconds of each of ``reps`` calls, and the last result."""
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return times, result


def large_frame(rows: pd.DataFrame, limit: int) -> pd.DataFrame:
    """``rows`` repeated, copy k with seed + k·(1 + max seed), as many copies as keep
    the CSV under ``limit`` bytes (estimated from one copy's bytes, then checked)."""
    one = len(to_csv_bytes(rows))
    copies = max(1, int(limit * 0.97) // one)
    stride = int(rows["seed"].max()) + 1
    frames = [rows.assign(seed=rows["seed"] + k * stride) for k in range(copies)]
    return pd.concat(frames, ignore_index=True)


def figure(times: list[float]) -> str:
    return (f"{statistics.median(times) * 1e3:.0f} ms "
            f"({min(times) * 1e3:.0f}–{max(times) * 1e3:.0f})")


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Stop unless the frame read back writes the same bytes as the one written."""
    if to_csv_bytes(a) != to_csv_bytes(b):
        raise SystemExit("the CSV did not read back as the frame written")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--large-reps", type=int, default=3)
    args = parser.parse_args()
    limits = Limits()
    rows = run_sweep(Sweep.default())
    print(f"peak after the default sweep: {peak_mib():.0f} MiB")

    write, data = timed(lambda: to_csv_bytes(rows), args.reps)
    read, back = timed(lambda: read_csv_bytes(data, "default.csv", limits), args.reps)
    same(rows, back)
    small_peak = peak_mib()

    big = large_frame(rows, limits.upload_bytes)
    big_write, big_data = timed(lambda: to_csv_bytes(big), args.large_reps)
    big_read, big_back = timed(lambda: read_csv_bytes(big_data, "large.csv", limits),
                               args.large_reps)
    same(big, big_back)

    print("| CSV | rows | size | write | read | peak resident after |")
    print("|---|---|---|---|---|---|")
    print(f"| the default sweep | {len(rows):,} | {len(data) / 1024:.0f} KiB | {figure(write)} "
          f"| {figure(read)} | {small_peak:.0f} MiB |")
    print(f"| under the upload limit ({limits.upload_bytes / MiB:.0f} MiB) | {len(big):,} "
          f"| {len(big_data) / MiB:.1f} MiB | {figure(big_write)} | {figure(big_read)} "
          f"| {peak_mib():.0f} MiB |")
    print(f"\nmedian (range): {args.reps} repetitions for the default sweep, "
          f"{args.large_reps} for the large CSV; one process, torch threads: default.")


if __name__ == "__main__":
    main()
