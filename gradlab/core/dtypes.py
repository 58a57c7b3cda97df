"""Dtypes by name, and the one per-dtype tolerance table.

The table plays the role of JAX's ``default_gradient_tolerance``: the tests,
the verdicts and the dashboard all read it, so a tolerance is set in one place.

- ``u`` is the unit roundoff (half the machine epsilon): 2⁻⁵³ for float64.
- ``accumulate`` is the dtype that sums accumulate in. torch's CPU kernels
  (and GPU matmuls) accumulate bfloat16 and float16 in float32, so their
  error is storage rounding, which does not grow with the length of a sum.
- The verdict rule (``verdict.verdict``) in the max-norm and normwise::

      err_N ≤ 2·err_N(autograd) + (c_N + b_N·κ_N)·u

  ``floor_max``, ``floor_fro`` are c_N: how far two correct evaluation orders
  may differ beyond twice autograd's error, in u (the whole floor of a function
  whose condition is not known). ``bound_max``, ``bound_fro`` are b_N: the
  fraction of a problem's first-order error bound κ_N (in units of the
  gradient) that its rounding can reach. Both absorb an autograd that happens
  to round luckily. ``bench/calibrate_verify.py`` (the built-in problems and
  torch's kernels, which know no κ) sets c_N; ``bench/calibrate_floor.py`` (the
  seed layer) then takes b_N as the least that covers twice every excess of
  seeds 0–9 at that c_N. Both count false alarms on held-out seeds; see
  docs/verdict.md.
- ``floor_scale`` is c_S of the third check, along the truth: the component
  ⟨G − T, T⟩/‖T‖² of the error, a wrong scale of the whole gradient. Rounding
  errors point every way and mostly cancel in it; a scale bug does not
  (``verdict.compare``). Its rule is err_S ≤ 2·err_S(autograd) + c_S·u.
- ``bound_generic`` is b_G: where a row fails the rule, verify measures how far
  the float64 truth moves when its inputs and intermediates round by u (κ_N in u,
  ``verification.allowance``); correct code may reach b_G·κ_N·u. Fitted on the
  op corpus, seeds 0–2: the least that clears every row that exact arithmetic
  shows correct (grid_sampler_2d#0's ∂grid in bfloat16, seed 1, needed 1.44),
  rounded up to 1.5; held out on seeds 3–4 (docs/verdict.md, docs/findings.md).
  Along the truth it is GENERIC_BOUND_SCALE.
- ``envelope`` bounds a correct autograd's error outright, in floors:
  ``err_N ≤ envelope·floor_N``, where a problem's κ is complete (the seed
  layer); past it the dtype has lost the case to underflow or overflow and
  the verdict is ``degenerate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gradlab.core.errors import GradlabError

__all__ = [
    "dtype_info", "dtype_name", "DTYPE_NAMES", "DtypeInfo", "DTYPES", "GENERIC_BOUND",
    "GENERIC_BOUND_FLOAT64", "GENERIC_BOUND_SCALE", "SCALE_FLOOR"
]

#: c_S, the floor along the truth, for every dtype: bench/calibrate_verify.py found a
#: largest excess of 1.51 u on seeds 0–9 and 2.92 u held out on seeds 100–199
#: (docs/verdict.md); float64 rows have no check along the truth.
SCALE_FLOOR = 3.0
#: b_G (see above); float64's truth is the reference itself, whose own rounding the
#: spread also measures, so its rows get that once more (triangle inequality).
GENERIC_BOUND = 1.5
GENERIC_BOUND_FLOAT64 = GENERIC_BOUND + 1.0
#: b_G along the truth (the wrong-scale check), fitted on its own: no correct row of
#: the fit seeds needed more than 1 there, and more costs the planted 10 u pattern
#: bug on the seed layer's ∂g in bfloat16 (width 1024) its fail.
GENERIC_BOUND_SCALE = 1.0


@dataclass(frozen=True)
class DtypeInfo:
    name: str
    torch_dtype: torch.dtype
    u: float
    floor_max: float
    floor_fro: float
    bound_max: float
    bound_fro: float
    envelope: float
    accumulate: str
    floor_scale: float
    bound_generic: float

    @property
    def u_acc(self) -> float:
        """Unit roundoff of the accumulation dtype."""
        return DTYPES[self.accumulate].u

    @property
    def bits(self) -> int:
        return torch.finfo(self.torch_dtype).bits

    def floor(self, norm: str) -> float:
        """c_N of the verdict rule in ``norm`` ("max", "fro" or "scale")."""
        return {"max": self.floor_max, "fro": self.floor_fro, "scale": self.floor_scale}[norm]

    def bound(self, norm: str) -> float:
        """b_N of the verdict rule in ``norm`` (none along the truth)."""
        return {"max": self.bound_max, "fro": self.bound_fro, "scale": 0.0}[norm]

    def floor_in(self, norm: str, kappa: float | None = None) -> float:
        """The floor in units of u: c_N, plus b_N·κ_N where the problem knows κ_N."""
        return self.floor(norm) + (0.0 if kappa is None else self.bound(norm) * kappa)


DTYPES: dict[str, DtypeInfo] = {
    #                                            u     c_max c_fro b_max b_fro envelope
    #                    accumulate  c_scale
    "float64": DtypeInfo("float64", torch.float64, 2.0**-53, 6.0, 4.0, 0.47, 0.98, 10.0,
                         "float64", SCALE_FLOOR, GENERIC_BOUND_FLOAT64),
    "float32": DtypeInfo("float32", torch.float32, 2.0**-24, 6.0, 4.0, 0.39, 0.64, 10.0,
                         "float32", SCALE_FLOOR, GENERIC_BOUND),
    "bfloat16": DtypeInfo("bfloat16", torch.bfloat16, 2.0**-8, 6.0, 4.0, 0.65, 0.65, 10.0,
                          "float32", SCALE_FLOOR, GENERIC_BOUND),
    "float16": DtypeInfo("float16", torch.float16, 2.0**-11, 6.0, 4.0, 0.67, 0.68, 10.0,
                         "float32", SCALE_FLOOR, GENERIC_BOUND),
}
DTYPE_NAMES: tuple[str, ...] = tuple(DTYPES)


def dtype_name(dtype: torch.dtype) -> str:
    """torch.float32 → "float32": how gradlab names a dtype everywhere."""
    return str(dtype).removeprefix("torch.")


def dtype_info(name: str) -> DtypeInfo:
    """The table row for ``name``; a clear error for an unknown dtype."""
    try:
        return DTYPES[name]
    except (KeyError, TypeError):
        raise GradlabError(
            f"dtype must be one of {', '.join(DTYPE_NAMES)} (got {name!r})", "dtype"
        ) from None
