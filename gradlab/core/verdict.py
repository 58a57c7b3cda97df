"""The verdict: bug or rounding, with the evidence. One engine for every problem."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import dtype_info


@dataclass(frozen=True)
class Error:
    """One method's error in one parameter against the reference.

    ``rel_err`` = abs_err / max|ref|; ``err_u`` = rel_err / u of the dtype.
    """

    abs_err: float
    rel_err: float
    err_u: float
    nonfinite: int


def make_error(abs_err: float, ref_max: float, grad: torch.Tensor, dtype: str) -> Error:
    rel_err = abs_err / ref_max if ref_max > 0 else (0.0 if abs_err == 0 else math.inf)
    # A NaN or ±inf in grad makes abs_err non-finite; only then count them.
    nonfinite = 0 if math.isfinite(abs_err) else int((~torch.isfinite(grad)).sum())
    return Error(abs_err, rel_err, rel_err / dtype_info(dtype).u, nonfinite)


def bounds(n: int, dtype: str) -> tuple[float, float]:
    """Higham's relative bounds for a length-n dot product: √n·u (probabilistic)
    and n·u (worst case)."""
    u = dtype_info(dtype).u
    return math.sqrt(n) * u, n * u


@dataclass(frozen=True)
class Verdict:
    """Bug or rounding, with the evidence.

    status: ``pass`` (within rounding), ``fail`` (a bug), ``too-coarse`` (a
    known bug whose exact effect is below what the dtype resolves), or
    ``degenerate`` (the dtype cannot represent this case at all).
    Errors are relative (÷ max|ref|).
    """

    status: str
    err: float
    err_autograd: float
    threshold: float
    u: float
    bug_effect: float | None
    message: str

    @property
    def passed(self) -> bool:
        return self.status in ("pass", "too-coarse")


def _in_u(x: float, u: float) -> str:
    return f"{x / u:.3g} u"


def verdict(dtype: str, err: Error, err_autograd: Error, ref_finite: bool = True,
            bug_effect: float | None = None, scale: float = 1.0) -> Verdict:
    """FlashAttention's rule, adapted: a method passes in dtype d when

        err_method ≤ 2·err_autograd + c·s·u_d        (relative errors)

    autograd's own error against the same reference stands for what rounding
    can do in d; the floor c (``dtypes.DTYPES[d].floor``) covers a lucky
    autograd, and ``scale`` is s = ``floor_scale(m, κ, d)``. ``bug_effect``
    is a known variant's exact relative deviation from the correct gradient;
    below the threshold the dtype is too coarse to see it.

    When autograd itself leaves the rounding envelope (non-finite, or an error
    beyond ``envelope``·s), d cannot represent this case (overflow, underflow):
    there is no rounding yardstick, and the verdict is ``degenerate``.
    """
    info = dtype_info(dtype)
    u = info.u

    def make(status, threshold, message):
        return Verdict(status, err.rel_err, err_autograd.rel_err, threshold, u,
                       bug_effect, message)

    if not ref_finite:
        return make("degenerate", math.nan,
                    "degenerate: the exact gradient is not finite (u = 0?)")
    if err_autograd.nonfinite:
        return make("degenerate", math.nan,
                    f"degenerate: {dtype} overflows or underflows here; autograd gives "
                    f"{err_autograd.nonfinite} non-finite entries (this method: "
                    f"{err.nonfinite}, err {_in_u(err.rel_err, u)})")
    if err_autograd.rel_err > info.envelope * scale * u:
        return make("degenerate", math.nan,
                    f"degenerate: {dtype} cannot represent this case; autograd's own error "
                    f"is {_in_u(err_autograd.rel_err, u)}, past the rounding envelope "
                    f"{_in_u(info.envelope * scale * u, u)} (this method: "
                    f"{_in_u(err.rel_err, u)}, {err.nonfinite} non-finite)")
    if err.nonfinite:
        return make("fail", math.nan,
                    f"bug: {err.nonfinite} non-finite entries where autograd and the "
                    "reference are finite")
    floor = info.floor * scale * u
    auto = err_autograd.rel_err
    threshold = 2 * auto + floor
    evidence = (f"err {_in_u(err.rel_err, u)} vs threshold {_in_u(threshold, u)} "
                f"= 2 × autograd {_in_u(auto, u)} + floor {_in_u(floor, u)}")
    if err.rel_err > threshold:
        return make("fail", threshold, f"bug: {evidence}")
    if bug_effect is not None and bug_effect <= threshold:
        return make("too-coarse", threshold,
                    f"too coarse: this mistake changes the gradient by only "
                    f"{bug_effect:.2g} relative ({_in_u(bug_effect, u)}), below {dtype}'s "
                    f"threshold {_in_u(threshold, u)}, so {dtype} cannot tell it from rounding")
    return make("pass", threshold, f"rounding: {evidence}")
