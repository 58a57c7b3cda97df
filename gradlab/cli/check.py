"""``python -m gradlab check``: one case of the seed layer, every method."""

from __future__ import annotations

import dataclasses
import json

from gradlab.cli.flags import add_budget_flags, limits_from_args, one, values
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.problems.seed.case import PLACEMENTS, PRESETS, Case
from gradlab.problems.seed.gradients import METHODS, VARIANTS

__all__ = ["add_check", "CASE_FLAGS", "case_from_args", "run_check_command"]

#: m and n when neither --m, --n nor --preset says otherwise (the notebook's sizes).
DEFAULT_M, DEFAULT_N = 2, 3
#: The Case fields a flag sets directly, with the kind of value it reads.
CASE_FLAGS = {"batch": int, "eps": float, "scale": float, "seed": int}


def _case_default(name: str):
    return next(f.default for f in dataclasses.fields(Case) if f.name == name)


def add_check(sub) -> None:
    p = sub.add_parser("check", help="one case: every method against the reference",
                       description="Compare the analytic gradients with autograd and "
                                   "with a higher-precision reference.")
    p.add_argument("--preset", choices=PRESETS,
                   help="the seed notebook's own draws, m=2 and n=3 (default: none, "
                        "seeded draws)")
    p.add_argument("--m", default=None, help=f"outputs (default {DEFAULT_M})")
    p.add_argument("--n", default=None, help=f"inputs (default {DEFAULT_N})")
    p.add_argument("--batch", default=None,
                   help=f"tokens (default {_case_default('batch')})")
    p.add_argument("--dtype", default=_case_default("dtype"),
                   help=f"one of {', '.join(DTYPE_NAMES)} (default %(default)s)")
    p.add_argument("--eps", default=None,
                   help=f"the norm's ε (default {_case_default('eps'):g})")
    p.add_argument("--eps-placement", default=_case_default("eps_placement"),
                   help=f"{' or '.join(PLACEMENTS)} (default %(default)s)")
    p.add_argument("--scale", default=None,
                   help=f"multiplies W (default {_case_default('scale'):g})")
    p.add_argument("--seed", default=None,
                   help=f"seed of the draws (default {_case_default('seed')})")
    p.add_argument("--method", default="all",
                   help=f"'all', or a list of {', '.join(METHODS)} (default %(default)s)")
    p.add_argument("--variant", default="none",
                   help=f"a derivation mistake: none, {', '.join(VARIANTS)} "
                        "(default %(default)s)")
    add_budget_flags(p, max_points=False)
    p.add_argument("--json", action="store_true",
                   help="one JSON document instead of a table")
    p.set_defaults(func=run_check_command)


def case_from_args(args) -> Case:
    """The Case the flags describe (a GradlabError names a bad flag)."""
    given = {name: one(getattr(args, name), kind, "--" + name)
             for name, kind in CASE_FLAGS.items() if getattr(args, name) is not None}
    m, n = (None if text is None else one(text, int, name)
            for text, name in ((args.m, "--m"), (args.n, "--n")))
    if args.preset:
        if m not in (None, DEFAULT_M) or n not in (None, DEFAULT_N):
            raise GradlabError(f"--preset {args.preset} fixes m={DEFAULT_M} and "
                               f"n={DEFAULT_N}; drop --m/--n")
        given["preset"] = args.preset
    return Case(DEFAULT_M if m is None else m, DEFAULT_N if n is None else n,
                dtype=args.dtype, eps_placement=args.eps_placement, **given)


def run_check_command(args) -> int:
    from gradlab.problems.seed.check import run_check
    from gradlab.problems.seed.report import to_json_dict, to_table

    limits = limits_from_args(args)
    case = case_from_args(args)
    explicit = args.method != "all"
    methods = values(args.method, str, "--method", METHODS)
    check = run_check(case, methods, None if args.variant == "none" else args.variant, limits,
                      kron_over_budget="raise" if explicit and "kron" in methods else "skip")
    if args.json:
        print(json.dumps(to_json_dict(check)))
    else:
        print(to_table(check))
    return 0 if check.passed else 1
