"""``python -m gradlab check``: one case of the seed layer, every method."""

from __future__ import annotations

import json

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.gradients import METHODS, VARIANTS


def _methods(text: str) -> tuple[str, ...]:
    if text == "all":
        return METHODS
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    for name in names:
        if name not in METHODS:
            raise GradlabError(f"--method must be 'all' or a comma list of "
                               f"{', '.join(METHODS)} (got {name!r})")
    return names


def add_check(sub) -> None:
    p = sub.add_parser("check", help="one case: every method against the reference",
                       description="Compare the analytic gradients with autograd and "
                                   "with a higher-precision reference.")
    p.add_argument("--preset", choices=["notebook"], help="the seed notebook's own draws")
    p.add_argument("--m", type=int, default=None, help="outputs (default 2)")
    p.add_argument("--n", type=int, default=None, help="inputs (default 3)")
    p.add_argument("--batch", type=int, default=1, help="tokens (default 1)")
    p.add_argument("--dtype", default="float32", help=f"one of {', '.join(DTYPE_NAMES)}")
    p.add_argument("--eps", type=float, default=0.0, help="the norm's ε (default 0)")
    p.add_argument("--eps-placement", default="inside", help="inside or outside")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies W (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="all",
                   help=f"'all' or a comma list of {', '.join(METHODS)}")
    p.add_argument("--variant", default="none",
                   help=f"a derivation mistake: none, {', '.join(VARIANTS)}")
    p.add_argument("--kron-budget-mib", type=float, default=Limits().kron_bytes / MiB,
                   help="largest J that kron may form (default 256)")
    p.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    p.set_defaults(func=run_check_command)


def run_check_command(args) -> int:
    from gradlab.problems.seed.check import run_check
    from gradlab.problems.seed.report import to_json_dict, to_table

    if args.kron_budget_mib != args.kron_budget_mib or args.kron_budget_mib <= 0:
        raise GradlabError(f"--kron-budget-mib must be > 0 (got {args.kron_budget_mib:g})")
    limits = Limits(kron_bytes=max(1, int(args.kron_budget_mib * MiB)))
    if args.preset:
        if args.m not in (None, 2) or args.n not in (None, 3):
            raise GradlabError("--preset notebook fixes m=2 and n=3; drop --m/--n")
        case = Case(2, 3, args.batch, args.dtype, args.eps, args.eps_placement, args.scale,
                    args.seed, preset=args.preset)
    else:
        case = Case(2 if args.m is None else args.m, 3 if args.n is None else args.n,
                    args.batch, args.dtype, args.eps, args.eps_placement, args.scale, args.seed)
    methods = _methods(args.method)
    explicit_kron = args.method != "all" and "kron" in methods
    check = run_check(case, methods, None if args.variant == "none" else args.variant, limits,
                      kron_over_budget="raise" if explicit_kron else "skip")
    if args.json:
        print(json.dumps(to_json_dict(check)))
    else:
        print(to_table(check))
    return 0 if check.passed else 1
