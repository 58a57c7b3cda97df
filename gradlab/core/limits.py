"""Resource guards, the same for the CLI, sweeps, verify and a hosted dashboard."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from gradlab.core.errors import GradlabError

MiB = 2**20


@dataclass(frozen=True)
class Limits:
    """Resource guards, the same for the CLI, sweeps and a hosted dashboard.

    - ``kron_bytes`` caps the seed's J = kron(I_m, xᵀ);
    - ``case_bytes`` caps everything else one check allocates (inputs,
      gradients, the reference), so m = n = 10⁶ is refused, not a crash;
    - ``max_points`` caps the points of one sweep;
    - ``upload_bytes`` caps one uploaded CSV.

    ``Limits.from_env()`` reads GRADLAB_KRON_BUDGET_MIB, GRADLAB_CASE_BUDGET_MIB,
    GRADLAB_MAX_POINTS and GRADLAB_MAX_UPLOAD_MIB, for a hosted copy.
    """

    kron_bytes: int = 256 * MiB
    case_bytes: int = 4096 * MiB
    max_points: int = 5000
    upload_bytes: int = 50 * MiB

    def __post_init__(self):
        for name in ENV_NAMES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GradlabError(f"{name} must be a positive integer (got {value!r})")

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        environ = os.environ if environ is None else environ
        values = {}
        for field_name, (var, unit) in ENV_NAMES.items():
            text = environ.get(var)
            if text is None or text == "":
                continue
            try:
                number = float(text)
            except ValueError:
                raise GradlabError(f"{var} must be a number (got {text!r})") from None
            if not math.isfinite(number) or number <= 0:
                raise GradlabError(f"{var} must be > 0 (got {text!r})")
            values[field_name] = max(1, int(number * unit))
        return cls(**values)


#: Limits field → (environment variable, unit of the variable's value).
ENV_NAMES = {
    "kron_bytes": ("GRADLAB_KRON_BUDGET_MIB", MiB),
    "case_bytes": ("GRADLAB_CASE_BUDGET_MIB", MiB),
    "max_points": ("GRADLAB_MAX_POINTS", 1),
    "upload_bytes": ("GRADLAB_MAX_UPLOAD_MIB", MiB),
}
