"""Dtypes by name, and the one per-dtype tolerance table.

The table plays the role of JAX's ``default_gradient_tolerance``: the tests,
the verdicts and the dashboard all read it, so a tolerance is set in one place.

- ``u`` is the unit roundoff (half the machine epsilon): 2⁻⁵³ for float64.
- ``accumulate`` is the dtype that sums accumulate in. torch's CPU kernels
  (and GPU matmuls) accumulate bfloat16 and float16 in float32, so their
  error is storage rounding, which does not grow with m.
- ``floor`` is the c of the verdict rule (see ``metrics.verdict``), in
  relative terms::

      err_method ≤ 2·err_autograd + c·s·u,   s = κ·(1 + √m·u_acc/u)

  It absorbs the spread between two correct evaluation orders, so a correct
  method never fails when autograd happens to round luckily. κ ≥ 1 is the
  cancellation condition (``reference.term_scale``); √m·u_acc is the
  probabilistic growth of the length-m sums in row = (d⊙g) R.
  ``bench/calibrate_floor.py`` measured, over 2,240 cases per dtype (m = n
  from 2 to 1024, batch 1 and 4, ε 0 and 1e-5, both placements, 10 seeds),
  the largest (err − 2·err_autograd)/(s·u) of a correct method: 0.85
  (float64), 0.48 (float32), 1.48 (bfloat16), 1.27 (float16). c = 4 leaves
  at least 2.7× room.
- ``envelope`` bounds any correct method's error outright: the tests assert
  ``err_u ≤ envelope·s``, and the verdict calls a case degenerate when autograd
  itself exceeds it. Widest err_u/s measured over the same cases: 4.64
  (float64), 1.67 (float32), 3.69 (bfloat16), 4.46 (float16).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gradlab.core.errors import GradlabError


@dataclass(frozen=True)
class DtypeInfo:
    name: str
    torch_dtype: torch.dtype
    u: float
    floor: float
    envelope: float
    accumulate: str

    @property
    def u_acc(self) -> float:
        """Unit roundoff of the accumulation dtype."""
        return DTYPES[self.accumulate].u

    @property
    def bits(self) -> int:
        return torch.finfo(self.torch_dtype).bits


DTYPES: dict[str, DtypeInfo] = {
    "float64": DtypeInfo("float64", torch.float64, 2.0**-53, 4.0, 10.0, "float64"),
    "float32": DtypeInfo("float32", torch.float32, 2.0**-24, 4.0, 8.0, "float32"),
    "bfloat16": DtypeInfo("bfloat16", torch.bfloat16, 2.0**-8, 4.0, 8.0, "float32"),
    "float16": DtypeInfo("float16", torch.float16, 2.0**-11, 4.0, 8.0, "float32"),
}
DTYPE_NAMES: tuple[str, ...] = tuple(DTYPES)

def dtype_info(name: str) -> DtypeInfo:
    """The table row for ``name``; a clear error for an unknown dtype."""
    try:
        return DTYPES[name]
    except (KeyError, TypeError):
        raise GradlabError(
            f"dtype must be one of {', '.join(DTYPE_NAMES)} (got {name!r})"
        ) from None
