"""Dtypes by name, and the one per-dtype tolerance table.

The table plays the role of JAX's ``default_gradient_tolerance``: the tests,
the verdicts and the dashboard all read it, so a tolerance is set in one place.

- ``u`` is the unit roundoff (half the machine epsilon): 2⁻⁵³ for float64.
- ``floor`` is the c of the verdict rule (see ``metrics.verdict``)::

      err_method ≤ 2·err_autograd + floor·u·max|ref|

  It absorbs the spread between two correct evaluation orders, so a correct
  method never fails when autograd happens to round luckily. Measured values
  are in the README ("How the verdict floor was chosen").
- ``envelope`` bounds a correct method's relative error, in units of u, per
  √n of the reduction length: the tests assert ``err_u ≤ envelope·√n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gradlab.errors import GradlabError


@dataclass(frozen=True)
class DtypeInfo:
    name: str
    torch_dtype: torch.dtype
    u: float
    floor: float
    envelope: float

    @property
    def bits(self) -> int:
        return torch.finfo(self.torch_dtype).bits


DTYPES: dict[str, DtypeInfo] = {
    "float64": DtypeInfo("float64", torch.float64, 2.0**-53, floor=4.0, envelope=16.0),
    "float32": DtypeInfo("float32", torch.float32, 2.0**-24, floor=4.0, envelope=16.0),
    "bfloat16": DtypeInfo("bfloat16", torch.bfloat16, 2.0**-8, floor=4.0, envelope=8.0),
    "float16": DtypeInfo("float16", torch.float16, 2.0**-11, floor=4.0, envelope=8.0),
}
DTYPE_NAMES: tuple[str, ...] = tuple(DTYPES)

#: One colour per dtype, the same on every chart and page.
DTYPE_COLORS: dict[str, str] = {
    "float64": "#1f77b4",
    "float32": "#2ca02c",
    "bfloat16": "#ff7f0e",
    "float16": "#d62728",
}


def dtype_info(name: str) -> DtypeInfo:
    """The table row for ``name``; a clear error for an unknown dtype."""
    try:
        return DTYPES[name]
    except (KeyError, TypeError):
        raise GradlabError(
            f"dtype must be one of {', '.join(DTYPE_NAMES)} (got {name!r})"
        ) from None
