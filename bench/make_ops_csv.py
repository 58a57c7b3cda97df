"""Regenerate dashboard/data/ops.csv, the op corpus run that the Ops page ships with.

    python -m bench.make_ops_csv [--seed 0] [--workers 2] [--out dashboard/data/ops.csv]

Runs the real command, ``python -m gradlab ops --seed SEED --workers N --no-progress
--out FILE`` (every op and kernel, every dtype), in a fresh process, into a temporary
file beside ``--out``; reads it back as the page does (``dashboard.ops.load_ops``) and
only then replaces ``--out``. Exit status 1 of the command (some verdict is ``fail``)
is the corpus's finding, not an error. Prints the wall time, the rows, the ops and the
file's size; dashboard/data/README.md records the shipped run's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard.ops import OPS_CSV, load_ops, provenance_line  # noqa: E402

#: Past this, the file is too large to commit comfortably (dashboard/data/README.md).
MAX_MIB = 5


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", default="0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OPS_CSV)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    command = [sys.executable, "-m", "gradlab", "ops", "--seed", args.seed,
               "--workers", str(args.workers), "--no-progress", "--out", str(part)]
    print("$ python -m gradlab " + " ".join(command[3:]), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    print(proc.stderr.split("failing rows")[0].rstrip(), flush=True)
    if proc.returncode not in (0, 1):
        part.unlink(missing_ok=True)
        print(f"make_ops_csv: the command exited {proc.returncode}", file=sys.stderr)
        return 2
    frame = load_ops(part)
    part.replace(out)
    mib = out.stat().st_size / 2**20
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {len(frame):,} "
          f"rows, {frame['op_name'].nunique():,} ops, {mib:.1f} MiB, in {seconds:.0f} s "
          f"({provenance_line(frame)})")
    if mib > MAX_MIB:
        print(f"make_ops_csv: over {MAX_MIB} MiB; see dashboard/data/README.md",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
