"""``python -m gradlab verify``: a user's function, or a built-in problem, per dtype.

    python -m gradlab verify MODULE:CANDIDATE --reference MODULE:REFERENCE \\
        --input NAME=SHAPE [--input …] [--dtype float32,bfloat16] [--seed 0] [--json]
    python -m gradlab verify --problem layernorm [--candidate torch] [--size 1024]
    python -m gradlab verify --list

SHAPE is sizes joined by 'x' (64x1024), 'scalar' for a 0-d input, or
SHAPE:int:HIGH for integers drawn uniformly in [0, HIGH) (class indices), which
are passed through and not differentiated. MODULE is a dotted module name,
imported from the current directory and PYTHONPATH, or a path to a .py file;
NAME may be dotted (``MyFunction.apply``). Exit 0 when every row passes, 1
when any does not, 2 for a bad invocation.
"""

from __future__ import annotations

import contextlib
import json
import sys

from gradlab.cli.flags import default_text, values
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.verification.inputs import load, parse_inputs
from gradlab.verification.spec import DEFAULT_DTYPES, check_dtypes, check_seed

__all__ = ["add_verify", "problem_list", "run_verify_command", "USAGE_HINT"]

USAGE_HINT = ("give MODULE:CANDIDATE with --reference and --input, or --problem NAME "
              "(--list shows the problems)")


def add_verify(sub) -> None:
    p = sub.add_parser(
        "verify", help="any function's backward against a plain-ops reference, per dtype",
        description="Verify a candidate's backward (a custom autograd.Function, a module, a "
                    "fused kernel) against the same mathematics in plain torch ops, in each "
                    "dtype, against a float64 truth on the same rounded inputs.")
    p.add_argument("target", nargs="?", metavar="MODULE:CANDIDATE",
                   help="the function whose backward is under test")
    p.add_argument("--reference", metavar="MODULE:REFERENCE",
                   help="the same mathematics in plain torch ops")
    p.add_argument("--input", action="append", default=[], metavar="NAME=SHAPE",
                   help="one per positional argument, in order: SHAPE is 64x1024, 'scalar', "
                        "or SHAPE:int:HIGH for integers in [0, HIGH)")
    p.add_argument("--problem", help="a built-in problem instead (see --list)")
    p.add_argument("--candidate", help="the built-in problem's candidate (default: correct)")
    p.add_argument("--size", type=int, help="the built-in problem's size knob "
                                            "(default: the problem's)")
    p.add_argument("--list", action="store_true", help="list the built-in problems")
    p.add_argument("--dtype", default=default_text(DEFAULT_DTYPES),
                   help=f"a comma list of {', '.join(DTYPE_NAMES)}, or 'all' "
                        f"(default: {default_text(DEFAULT_DTYPES)})")
    p.add_argument("--seed", type=int, default=0, help="the draws' seed (default 0)")
    p.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    p.set_defaults(func=run_verify_command)


def run_verify_command(args) -> int:
    args.dtype = values(args.dtype, str, "--dtype", DTYPE_NAMES)
    if args.list:
        print(problem_list())
        return 0
    # A user module's prints must not corrupt the JSON document on stdout.
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with quiet:
        report = _report(args)
    if args.json:
        print(json.dumps(report.to_json_dict(), allow_nan=False))
    else:
        print(report)
    return 0 if report.passed else 1


def _report(args):
    from gradlab.verification.run import verify

    check_dtypes(args.dtype)
    check_seed(args.seed)
    if args.problem is not None:
        extra = [flag for flag, value in (("MODULE:CANDIDATE", args.target),
                                          ("--reference", args.reference),
                                          ("--input", args.input)) if value]
        if extra:
            raise GradlabError(f"--problem runs a built-in problem; drop {extra[0]}")
        from gradlab.problems.library import problem

        return problem(args.problem).verify(args.candidate or "correct", args.size,
                                            args.dtype, args.seed)
    for flag, value in (("--candidate", args.candidate), ("--size", args.size)):
        if value is not None:
            raise GradlabError(f"{flag} needs --problem", flag)
    if args.target is None:
        raise GradlabError(USAGE_HINT)
    if args.reference is None:
        raise GradlabError("--reference MODULE:REFERENCE is required with MODULE:CANDIDATE")
    if not args.input:
        raise GradlabError("--input NAME=SHAPE is required, one per positional argument")
    inputs = parse_inputs(args.input, args.seed)
    candidate = load(args.target, "MODULE:CANDIDATE")
    reference = load(args.reference, "--reference")
    return verify(candidate, reference, inputs, args.dtype, args.seed,
                  names=(args.target, args.reference))


def problem_list() -> str:
    """The built-in problems, their candidates and sizes, as text."""
    from gradlab.problems.library import PROBLEMS

    lines = []
    for p in PROBLEMS.values():
        lines.append(f"{p.name}: {p.title} · {p.formula}")
        lines.append(f"  --size ({p.size_name}): {', '.join(map(str, p.sizes))} "
                     f"(default {p.default_size})")
        for c in p.candidates:
            lines.append(f"  --candidate {c.name:15s} {c.kind:8s} {c.description}")
    return "\n".join(lines)
