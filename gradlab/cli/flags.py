"""One parser per kind of flag, shared by ``check`` and ``sweep``.

- Numbers and lists of numbers or names: the dashboard's list syntax
  (gradlab/core/lists.py): ``2,4,8``, ``2..64`` (doubling), ``1e-5``, ``all``.
- Budgets (``--kron-budget-mib``, ``--max-points``): ``parse_budget``, the parser
  of the GRADLAB_* variables, over the limits those variables set.

Flags are read as text by argparse and parsed here, so that a bad value is one
GradlabError naming the flag: ``gradlab: error: --m must be ≥ 1 (got 0)``.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from gradlab.core.errors import GradlabError
from gradlab.core.limits import ENV_NAMES, Limits, parse_budget
from gradlab.core.lists import list_text, parse_list

__all__ = [
    "add_budget_flags", "BUDGET_FLAGS", "check_out", "default_text", "flag", "flag_message",
    "limits_from_args", "one", "PARAMETER_FLAGS", "values", "write_out"
]

#: Budget flag (argparse dest) → the Limits field it sets.
BUDGET_FLAGS = {"kron_budget_mib": "kron_bytes", "max_points": "max_points"}


def flag(dest: str) -> str:
    """An argparse dest as the user types it: ``eps_placement`` → ``--eps-placement``."""
    return "--" + dest.replace("_", "-")


#: A GradlabError's parameter → the flag that sets it, in every command: a Case's
#: fields (check), a Sweep's (sweep), and where a sweep or the op corpus runs.
PARAMETER_FLAGS = {
    **{name: flag(name) for name in ("m", "n", "dims", "batch", "dtype", "eps", "eps_placement",
                                     "scale", "seed", "preset", "variant", "device",
                                     "workers", "scheduler")},
    "dtypes": "--dtype", "placements": "--eps-placement", "scales": "--scale",
    "seeds": "--seed", "variants": "--variant", "methods": "--method",
}


def flag_message(exc: GradlabError) -> str:
    """The error as the command line says it: its parameter as the flag the user typed."""
    return exc.named(PARAMETER_FLAGS)


def values(text: str, kind: type, name: str, allowed: tuple[str, ...] = ()) -> tuple:
    """A list flag (at least one value): see ``parse_list``."""
    parsed = parse_list(text, kind, name, allowed)
    if not parsed:
        raise GradlabError(f"{name} needs at least one value (got {text!r})", name)
    return parsed


def one(text: str, kind: type, name: str):
    """A flag of one number, in the same syntax as a list of them."""
    parsed = values(text, kind, name)
    if len(parsed) != 1:
        raise GradlabError(f"{name} takes one value (got {text!r}, which is "
                           f"{len(parsed)} values)", name)
    return parsed[0]


def default_text(value) -> str:
    """A default as help shows it, in the syntax the flag reads."""
    return list_text(value) if isinstance(value, tuple) else str(value)


def add_budget_flags(parser, max_points: bool) -> None:
    """``--kron-budget-mib`` (and, for a sweep, ``--max-points``): over Limits.from_env()."""
    defaults = Limits()
    for dest, field in BUDGET_FLAGS.items():
        if dest == "max_points" and not max_points:
            continue
        var, unit = ENV_NAMES[field]
        default = getattr(defaults, field) / unit
        what = ("largest J = kron(I_m, xᵀ) that kron may form, in MiB; kron is skipped "
                "past it" if dest == "kron_budget_mib" else "refuse a sweep with more points")
        parser.add_argument(flag(dest), dest=dest, default=None,
                            metavar="MIB" if unit > 1 else "N",
                            help=f"{what} (default {default:g}, or {var})")


def limits_from_args(args) -> Limits:
    """Limits.from_env(), with each budget flag given replacing its field."""
    limits = Limits.from_env()
    changes = {}
    for dest, field in BUDGET_FLAGS.items():
        text = getattr(args, dest, None)
        if text is not None:
            changes[field] = parse_budget(text, flag(dest), ENV_NAMES[field][1])
    return dataclasses.replace(limits, **changes)


def check_out(path: str) -> None:
    """Refuse an ``--out`` path that cannot be written, before any work."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise GradlabError(f"--out {path} is a directory; give a file name such as sweep.csv")
    if not os.path.isdir(parent):
        raise GradlabError(f"--out {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise GradlabError(f"--out {path}: the folder {parent} is not writable")


def write_out(data: bytes, out: str | None) -> str:
    """``data`` to the file ``out``, or to stdout; where it went, for the summary."""
    if not out:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return "stdout"
    try:
        with open(out, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise GradlabError(f"--out {out}: {exc.strerror}") from None
    return out
