"""``python -m gradlab sweep``: a grid of checks, headless, to a CSV.

Every grid flag takes a list in the dashboard's syntax (gradlab/core/lists.py:
``2,4,8``, ``2..4096`` doubling, ``all`` for names); a flag left out keeps the
dashboard's default sweep (``Sweep.default()``). ``--dims`` pairs m = n; ``--m``/``--n`` form a
Cartesian product instead. The progress bar (tqdm) goes to stderr, the CSV to
``--out`` or stdout.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from gradlab.cli.flags import (
    add_budget_flags,
    check_out,
    default_text,
    flag,
    limits_from_args,
    values,
    write_out,
)
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import MiB
from gradlab.problems.seed.case import PLACEMENTS
from gradlab.problems.seed.gradients import METHODS
from gradlab.sweep.executor import Executor
from gradlab.sweep.grid import VARIANT_NAMES, Sweep

__all__ = [
    "add_sweep", "correct_failures", "executor_from_args", "FLAGS", "run_sweep_command",
    "run_with_bar", "summarize", "sweep_from_args", "torch_warning", "verdict_counts"
]

#: --flag → (Sweep field, item type, the word 'all' stands for these).
FLAGS = {
    "m": ("m", int, None),
    "n": ("n", int, None),
    "dims": ("dims", int, None),
    "batch": ("batch", int, None),
    "dtype": ("dtypes", str, DTYPE_NAMES),
    "eps": ("eps", float, None),
    "eps_placement": ("placements", str, PLACEMENTS),
    "scale": ("scales", float, None),
    "seed": ("seeds", int, None),
    "variant": ("variants", str, VARIANT_NAMES),
    "method": ("methods", str, METHODS),
}


def add_sweep(sub) -> None:
    default = Sweep.default()
    shown = {dest: "all" if getattr(default, field) == everything
             else default_text(getattr(default, field))
             for dest, (field, _, everything) in FLAGS.items()}
    p = sub.add_parser(
        "sweep", help="a grid of checks over sizes × dtypes × ε …, written as CSV",
        description="Run every combination of the given values and write one CSV row "
                    "per point. Each grid flag takes a list: 2,4,8 or 2..64 (doubling: 2, "
                    "4, …, 64); 'all' for names. A flag left out keeps the dashboard's "
                    f"default sweep (m = n = {shown['dims']} × {len(default.dtypes)} dtypes × "
                    f"ε {shown['eps']} × seeds {shown['seed']}: {default.points} points).")
    helps = {
        "m": "outputs, Cartesian with --n (default: none, --dims applies)",
        "n": "inputs, Cartesian with --m (default: none, --dims applies)",
        "dims": "paired sizes m = n",
        "batch": "tokens",
        "dtype": f"'all', or a list of {', '.join(DTYPE_NAMES)}",
        "eps": "the norm's ε",
        "eps_placement": f"'all', or a list of {', '.join(PLACEMENTS)}",
        "scale": "multiplies W",
        "seed": "seeds of the draws",
        "variant": f"'all', or a list of {', '.join(VARIANT_NAMES)}",
        "method": f"'all', or a list of {', '.join(METHODS)}; autograd always runs",
    }
    for dest in FLAGS:
        text = helps[dest] if dest in ("m", "n") else f"{helps[dest]} (default {shown[dest]})"
        p.add_argument(flag(dest), dest=dest, default=None, metavar="LIST",
                       help=text.replace("%", "%%"))
    p.add_argument("--out", metavar="FILE.csv", help="write the CSV here (default stdout)")
    p.add_argument("--device", default="cpu",
                   help="cpu, or cuda where a GPU exists (default %(default)s)")
    add_budget_flags(p, max_points=True)
    p.add_argument("--dry-run", action="store_true",
                   help="print the number of points and the largest case, run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    # Where it runs (gradlab/sweep/executor.py, docs/sweeps.md): serial without either.
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes, each with "
                            "its share of the cores as torch threads (default: serial)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the running Dask scheduler at ADDRESS, such as "
                            "tcp://127.0.0.1:8786; its workers need this gradlab and the "
                            "same torch (default: serial)")
    p.set_defaults(func=run_sweep_command)


def sweep_from_args(args) -> Sweep:
    """The default sweep, with each given flag replacing its field."""
    given = {dest: values(getattr(args, dest), item, flag(dest), everything or ())
             for dest, (_, item, everything) in FLAGS.items() if getattr(args, dest) is not None}
    if given.keys() & {"m", "n"}:
        if "dims" in given:
            raise GradlabError("--dims pairs m = n; give either --dims or --m and --n")
        if not given.keys() >= {"m", "n"}:
            raise GradlabError("--m and --n go together (a Cartesian product); "
                               "for m = n use --dims")
        given["dims"] = ()
    return dataclasses.replace(Sweep.default(), **{FLAGS[d][0]: v for d, v in given.items()})


def executor_from_args(args) -> Executor:
    """--workers N or --scheduler ADDRESS (argparse keeps them apart), else serial."""
    if args.workers is not None and args.workers < 1:
        raise GradlabError(f"--workers must be ≥ 1 (got {args.workers}); leave it out for "
                           "a serial run")
    executor = Executor(workers=args.workers or 0, scheduler=args.scheduler or "")
    executor.check()
    return executor


def torch_warning(frame) -> str | None:
    """A warning when the points ran on more than one torch version, else None."""
    versions = frame.attrs.get("torch_versions") or {}
    if len(versions) < 2:
        return None
    mix = ", ".join(f"{v} ({n} points)" for v, n in sorted(versions.items()))
    return (f"gradlab: warning: the workers ran different torch versions: {mix}; their "
            "numbers may differ in the last bits (see the torch_version column)")


def run_sweep_command(args) -> int:
    from gradlab.sweep.export import to_csv_bytes
    from gradlab.sweep.runner import check_device

    sweep = sweep_from_args(args)
    limits = limits_from_args(args)
    sweep.check(limits)
    check_device(args.device)
    executor = executor_from_args(args)
    if args.out:
        check_out(args.out)
    if args.dry_run:
        big = sweep.largest_case()
        print(f"{sweep.points} points; the largest (m={big.m}, n={big.n}, batch={big.batch}, "
              f"{big.dtype}) needs about {big.case_bytes() / MiB:,.1f} MiB")
        return 0
    start = time.perf_counter()
    try:
        frame = run_with_bar(sweep, limits, args.device, executor, args.no_progress)
    except KeyboardInterrupt:
        print("gradlab: interrupted; nothing written", file=sys.stderr)
        return 130
    where = write_out(to_csv_bytes(frame), args.out)
    return summarize(frame, time.perf_counter() - start, executor, where)


def run_with_bar(sweep: Sweep, limits, device: str, executor: Executor, quiet: bool):
    """The sweep's frame, with tqdm's progress bar on stderr unless ``quiet``."""
    from tqdm import tqdm

    from gradlab.sweep.runner import run_sweep

    bar = tqdm(total=sweep.points, desc="sweep", unit="pt", file=sys.stderr,
               disable=quiet, dynamic_ncols=True)
    with bar:
        return run_sweep(sweep, limits, device=device, executor=executor,
                         progress=lambda done, total, elapsed: bar.update(done - bar.n))


def summarize(frame, seconds: float, executor: Executor, where: str) -> int:
    """The run's lines on stderr (points, time, rows that could not run, mixed torch
    versions, false alarms) and the exit status: 1 when the correct derivation fails."""
    failed = int((frame["error"] != "").sum())
    ran = "" if executor.serial else f" on {executor.describe()}"
    print(f"gradlab: {len(frame)} points in {seconds:.1f} s{ran} → {where}"
          + (f" ({failed} could not run: see the error column)" if failed else ""),
          file=sys.stderr)
    print(f"gradlab: verdicts: {verdict_counts(frame)}", file=sys.stderr)
    warning = torch_warning(frame)
    if warning:
        print(warning, file=sys.stderr)
    alarms = correct_failures(frame)
    if alarms:
        print(f"gradlab: {alarms} verdicts of the correct derivation (variant none) are "
              f"'fail': see the *_status and *_verdict columns", file=sys.stderr)
    return 1 if alarms else 0


def verdict_counts(frame) -> str:
    """Each analytic method's verdicts counted by status, the methods not asked for left
    out: "structured 420 pass, 12 degenerate; kron 300 pass, 132 skipped"."""
    from gradlab.problems.seed.check import NOT_ASKED

    parts = []
    for column in (c for c in frame.columns if c.endswith("_status")):
        counts = frame[column][frame[column] != NOT_ASKED].value_counts()
        if len(counts):
            text = ", ".join(f"{n} {status or 'not run'}" for status, n in counts.items())
            parts.append(f"{column.removesuffix('_status')} {text}")
    return "; ".join(parts) or "none"


def correct_failures(frame) -> int:
    """How many verdicts of the correct derivation (variant ``none``) are ``fail``: the
    sweep's exit status is 1 when there are any. A bug-zoo variant's ``fail`` is the
    mistake caught, and ``degenerate`` or ``too-coarse`` rows are the dtype's limits,
    written to the CSV and not a failure of the run."""
    correct = frame[frame["variant"] == "none"]
    columns = [c for c in frame.columns if c.endswith("_status")]
    return int(sum((correct[c] == "fail").sum() for c in columns))
