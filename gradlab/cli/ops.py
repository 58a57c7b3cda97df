"""``python -m gradlab ops``: verify torch's own ops' backward against their
references (the OpInfo corpus, gradlab/corpus/opinfo.py) and the hand-written
kernels (gradlab/corpus/kernels.py), to a CSV.

    python -m gradlab ops [--op NAME …] [--dtype LIST] [--seed LIST]
        [--workers N | --scheduler ADDRESS] [--out ops.csv] [--list]

The progress bar (tqdm) and the summary go to stderr, the CSV to ``--out`` or
stdout. Exit 0 when no verdict is ``fail``, 1 when one is, 2 for bad input.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from gradlab.cli.flags import check_out, values, write_out
from gradlab.cli.sweep import executor_from_args
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError

__all__ = ["add_ops", "listing", "run_ops_command", "summary"]

#: The statuses the summary counts, in order.
STATUSES = ("pass", "fail", "too-coarse", "degenerate", "error", "skipped")
SHOWN_FAILURES = 40


def add_ops(sub) -> None:
    p = sub.add_parser(
        "ops", help="torch's own ops' backward against their references (OpInfo), to CSV",
        description="Verify the backward of every differentiable op in PyTorch's OpInfo "
                    "database against a reference autograd differentiates in plain ops "
                    "(torch._refs, a decomposition or a short formula), on its own sample "
                    "inputs, in each dtype. Needs expecttest (pip install expecttest).")
    p.add_argument("--op", action="append", default=None, metavar="NAME",
                   help="an op, or a hand-written kernel kernel.NAME (repeat, or a comma "
                        "list); a bare name takes all its variants (default: every op and "
                        "kernel; --list shows them)")
    p.add_argument("--dtype", default="all", metavar="LIST",
                   help=f"'all', or a list of {', '.join(DTYPE_NAMES)} (default all)")
    p.add_argument("--seed", default="0", metavar="LIST",
                   help="seeds of the samples and draws (default 0)")
    p.add_argument("--out", metavar="FILE.csv", help="write the CSV here (default stdout)")
    p.add_argument("--list", action="store_true",
                   help="list the ops with their reference kind or why they are skipped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes "
                            "(default: serial)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the running Dask scheduler at ADDRESS, such as "
                            "tcp://127.0.0.1:8786 (default: serial)")
    p.set_defaults(func=run_ops_command)


def _ops(args) -> list[str] | None:
    if not args.op:
        return None
    names = [n.strip() for text in args.op for n in text.split(",") if n.strip()]
    if not names:
        raise GradlabError("--op needs at least one op name (--list shows them)")
    return names


def _seeds(text: str) -> tuple[int, ...]:
    seeds = values(text, int, "--seed")
    bad = [s for s in seeds if s < 0 or s >= 2 ** 63]
    if bad:
        raise GradlabError(f"--seed must be whole numbers in [0, 2**63) (got {bad[0]})")
    return seeds


def run_ops_command(args) -> int:
    dtypes = values(args.dtype, str, "--dtype", DTYPE_NAMES)
    seeds = _seeds(args.seed)
    names = _ops(args)
    executor = executor_from_args(args)
    if args.out:
        check_out(args.out)
    from gradlab.corpus.build import corpus_entries, select

    select(names)  # unknown names: bad input, before any work
    start = time.perf_counter()
    if args.list:
        print(listing(*corpus_entries(seeds[0], names)))
        return 0
    from tqdm import tqdm

    from gradlab.corpus.run import jobs_for, run_ops
    from gradlab.sweep.export import to_csv_bytes

    jobs = jobs_for(names, seeds, dtypes)
    bar = tqdm(total=len(jobs), desc="ops", unit="op", file=sys.stderr,
               disable=args.no_progress, dynamic_ncols=True)
    try:
        with bar:
            frame = run_ops(jobs, executor,
                            progress=lambda done, total, elapsed: bar.update(done - bar.n))
    except KeyboardInterrupt:
        print("gradlab: interrupted; nothing written", file=sys.stderr)
        return 130
    where = write_out(to_csv_bytes(frame), args.out)
    print(summary(frame, time.perf_counter() - start, where), file=sys.stderr)
    return 1 if (frame["status"] == "fail").any() else 0


def summary(frame, seconds: float, where: str) -> str:
    """Ops, entries and verdicts; each status per dtype; the failing rows."""
    verdicts = frame[frame["status"] != "skipped"]
    entries = len(verdicts[["entry", "entry_seed"]].drop_duplicates())
    ops = frame.loc[frame["family"] == "opinfo", "op"].nunique()
    lines = [f"gradlab: {ops} ops, {entries} entries, {len(verdicts)} verdicts in "
             f"{seconds:.1f} s → {where}"]
    counts = Counter(zip(frame["dtype"], frame["status"]))
    dtypes = [d for d in (*DTYPE_NAMES, "") if any(k[0] == d for k in counts)]
    width = max(len("dtype"), *(len(d or "all") for d in dtypes))
    lines.append("  " + "dtype".ljust(width) + "".join(f"  {s:>10}" for s in STATUSES))
    for d in dtypes:
        lines.append("  " + (d or "all").ljust(width)
                     + "".join(f"  {counts.get((d, s), 0):>10}" for s in STATUSES))
    fails = frame[frame["status"] == "fail"]
    if len(fails):
        lines.append(f"failing rows ({len(fails)}):")
        for row in fails.head(SHOWN_FAILURES).itertuples():
            lines.append(f"  {row.entry} {row.dtype} {row.input}: {row.evidence}")
        if len(fails) > SHOWN_FAILURES:
            lines.append(f"  … and {len(fails) - SHOWN_FAILURES} more (see the CSV)")
    return "\n".join(lines)


def listing(entries, skipped) -> str:
    """One line per op: its reference kinds and entries, or why it is skipped."""
    from gradlab.corpus.opinfo import opinfo_names
    from gradlab.corpus.run import op_of

    kinds: dict[str, Counter] = {}
    for e in entries:
        kinds.setdefault(op_of(e), Counter())[e.reference_kind] += 1
    whole = {s.name: s.reason for s in skipped if s.reason.partition(":")[0] not in DTYPE_NAMES}
    missing: dict[str, list[str]] = {}
    for s in skipped:
        head = s.reason.partition(":")[0]
        if head in DTYPE_NAMES:
            missing.setdefault(s.name, []).append(head)
    lines = []
    for name in opinfo_names():
        if name in kinds:
            text = ", ".join(f"{k} ×{n}" for k, n in kinds[name].items())
            no = f" (not {', '.join(missing[name])})" if name in missing else ""
            lines.append(f"{name}  {text}{no}")
        elif name in whole:
            lines.append(f"{name}  skipped: {whole[name]}")
    with_entries = len(kinds)
    lines.append(f"{with_entries} ops with entries, {len(whole)} skipped")
    return "\n".join(lines)
