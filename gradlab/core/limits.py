"""Resource guards, the same for the CLI, sweeps, verify and a hosted dashboard."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from gradlab.core.errors import GradlabError

__all__ = [
    "ALLOW_IMPORT", "allow_import", "check_seconds", "ENV_NAMES", "Limits", "MAX_BUDGET", "MiB",
    "over_time", "parse_budget"
]

MiB = 2**20


@dataclass(frozen=True)
class Limits:
    """Resource guards, the same for the CLI, sweeps and a hosted dashboard.

    - ``kron_bytes`` caps the seed's J = kron(I_m, xᵀ);
    - ``case_bytes`` caps everything else one check allocates (inputs,
      gradients, the reference), so m = n = 10⁶ is refused, not a crash;
    - ``max_points`` caps the points of one sweep;
    - ``upload_bytes`` caps one uploaded CSV;
    - ``max_seconds`` caps the estimated time of one request (``check_seconds``): the
      default, MAX_BUDGET, is no limit.

    ``Limits.from_env()`` reads GRADLAB_KRON_BUDGET_MIB, GRADLAB_CASE_BUDGET_MIB,
    GRADLAB_MAX_POINTS, GRADLAB_MAX_UPLOAD_MIB and GRADLAB_MAX_SECONDS, for a hosted copy.
    """

    kron_bytes: int = 256 * MiB
    case_bytes: int = 4096 * MiB
    max_points: int = 5000
    upload_bytes: int = 50 * MiB
    max_seconds: int = 2**63 - 1  # MAX_BUDGET: no time limit

    def __post_init__(self):
        for name in ENV_NAMES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GradlabError(f"{name} must be a positive integer (got {value!r})", name)

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        environ = os.environ if environ is None else environ
        values = {}
        for field_name, (var, unit) in ENV_NAMES.items():
            text = environ.get(var)
            if text is None or text == "":
                continue
            values[field_name] = parse_budget(text, var, unit)
        return cls(**values)


#: The largest budget: what a signed 64-bit integer holds (in bytes, or items).
MAX_BUDGET = 2**63 - 1


def parse_budget(text, name: str, unit: int = MiB) -> int:
    """A budget given as text in ``unit`` (MiB, or 1 for a count), in bytes (or items).

    The one parser of a budget, for the GRADLAB_* variables and the CLI's flags: a
    finite number > 0 whose bytes fit in a 64-bit integer (a count must be whole); a
    fraction of a byte rounds down, to at least 1. A GradlabError names ``name``.
    """
    try:
        number = int(text)  # exact, where it is written as an integer
    except (TypeError, ValueError):
        try:
            number = float(text)
        except (TypeError, ValueError):
            raise GradlabError(f"{name} must be a number (got {text!r})", name) from None
    if not math.isfinite(number) or number <= 0:
        raise GradlabError(f"{name} must be a finite number > 0 (got {text!r})", name)
    if unit == 1 and number != int(number):
        raise GradlabError(f"{name} must be a whole number (got {text!r})", name)
    if number * unit > MAX_BUDGET:
        what = " MiB, what a 64-bit integer holds in bytes" if unit > 1 else \
            ", what a 64-bit integer holds"
        raise GradlabError(f"{name} must be ≤ {MAX_BUDGET // unit:,}{what} (got {text!r})", name)
    return max(1, int(number * unit))


#: Limits field → (environment variable, unit of the variable's value).
ENV_NAMES = {
    "kron_bytes": ("GRADLAB_KRON_BUDGET_MIB", MiB),
    "case_bytes": ("GRADLAB_CASE_BUDGET_MIB", MiB),
    "max_points": ("GRADLAB_MAX_POINTS", 1),
    "upload_bytes": ("GRADLAB_MAX_UPLOAD_MIB", MiB),
    "max_seconds": ("GRADLAB_MAX_SECONDS", 1),
}


def over_time(seconds: float, limits: Limits) -> str:
    """Why a request estimated at ``seconds`` is past GRADLAB_MAX_SECONDS ("" if not)."""
    if seconds <= limits.max_seconds:
        return ""
    return (f"it would take about {seconds:,.1f} s here, over the time limit of "
            f"{limits.max_seconds:,} s (GRADLAB_MAX_SECONDS)")


def check_seconds(seconds: float, limits: Limits, what: str) -> None:
    """Refuse, before any work, ``what`` when its estimated ``seconds`` (a problem's
    cost model, such as ``problems.seed.cost``) exceed GRADLAB_MAX_SECONDS."""
    why = over_time(seconds, limits)
    if why:
        raise GradlabError(f"{what} refused: {why}; ask for less, or raise the limit")


#: The switch for importing a user's ``module:function`` on the dashboard's Verify page.
ALLOW_IMPORT = "GRADLAB_ALLOW_IMPORT"


def allow_import(environ=None) -> bool:
    """Whether GRADLAB_ALLOW_IMPORT=1 lets the dashboard import ``module:function``.

    Importing a module runs its code in the server's process, so a hosted
    instance leaves it off: unset, "" or "0" is off, "1" on; anything else is a
    GradlabError naming the variable (a typo never turns it on silently).
    """
    environ = os.environ if environ is None else environ
    text = environ.get(ALLOW_IMPORT, "").strip()
    if text in ("", "0"):
        return False
    if text == "1":
        return True
    raise GradlabError(f"{ALLOW_IMPORT} must be 1 (on) or 0 (off) (got {text!r})", ALLOW_IMPORT)
