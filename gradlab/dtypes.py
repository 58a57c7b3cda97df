"""Dtypes by name, and the one per-dtype tolerance table.

The table plays the role of JAX's ``default_gradient_tolerance``: the tests,
the verdicts and the dashboard all read it, so a tolerance is set in one place.

- ``u`` is the unit roundoff (half the machine epsilon): 2⁻⁵³ for float64.
- ``floor`` is the c of the verdict rule (see ``metrics.verdict``), in
  relative terms::

      err_method ≤ 2·err_autograd + c·√m·κ·u

  It absorbs the spread between two correct evaluation orders, so a correct
  method never fails when autograd happens to round luckily. κ ≥ 1 is the
  cancellation condition (``reference.term_scale``). Measured by
  ``bench/calibrate_floor.py`` over 2,240 cases (m = n ≤ 1024): the largest
  (err − 2·err_autograd)/(√m·κ·u) of a correct method was 1.16 (float64),
  0.82 (float32), 0.42 (bfloat16), 0.27 (float16). c = 4 leaves ≥ 3.4× room.
- ``envelope`` bounds a correct method's error outright: the tests assert
  ``err_u ≤ envelope·√m·κ``. Measured widest err_u/(√m·κ): 2.24 (float64),
  2.63 (float32), 1.18 (bfloat16), 1.45 (float16); the envelope is ~3× that.
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
    "float64": DtypeInfo("float64", torch.float64, 2.0**-53, floor=4.0, envelope=8.0),
    "float32": DtypeInfo("float32", torch.float32, 2.0**-24, floor=4.0, envelope=8.0),
    "bfloat16": DtypeInfo("bfloat16", torch.bfloat16, 2.0**-8, floor=4.0, envelope=4.0),
    "float16": DtypeInfo("float16", torch.float16, 2.0**-11, floor=4.0, envelope=4.0),
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
