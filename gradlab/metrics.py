"""Errors against the reference, the context bounds, and the verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gradlab.dtypes import dtype_info
from gradlab.reference import Reference


@dataclass(frozen=True)
class Error:
    """One method's error in one parameter against the reference.

    ``rel_err`` = abs_err / max|ref|; ``err_u`` = rel_err / u of the dtype.
    """

    abs_err: float
    rel_err: float
    err_u: float
    nonfinite: int


def error(reference: Reference, param: str, grad: torch.Tensor, dtype: str) -> Error:
    abs_err = reference.error(param, grad)
    ref_max = reference.max_abs(param)
    rel_err = abs_err / ref_max if ref_max > 0 else (0.0 if abs_err == 0 else math.inf)
    nonfinite = int((~torch.isfinite(grad)).sum())
    return Error(abs_err, rel_err, rel_err / dtype_info(dtype).u, nonfinite)


def max_abs_diff(grad: torch.Tensor, other: torch.Tensor) -> float:
    """The seed's number: max |grad − other|, taken in float64."""
    diff = grad.to(torch.float64) - other.to(torch.float64)
    return float(diff.abs().max()) if diff.numel() else 0.0


def bounds(n: int, dtype: str) -> tuple[float, float]:
    """Higham's relative bounds for a length-n dot product: √n·u (probabilistic)
    and n·u (worst case)."""
    u = dtype_info(dtype).u
    return math.sqrt(n) * u, n * u


def scale_residual(grad: torch.Tensor, W: torch.Tensor) -> float:
    """⟨dL/dW, W⟩ / (‖dL/dW‖ ‖W‖).

    With ε = 0, L(cW) = L(W) for every c > 0 (a and u scale together), so
    d/dc L(cW) at c = 1, which is ⟨dL/dW, W⟩, is 0: the residual is rounding.
    """
    G, W = grad.to(torch.float64), W.to(torch.float64)
    norm = float(G.norm() * W.norm())
    return float((G * W).sum()) / norm if norm > 0 else 0.0


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


def floor_scale(m: int, kappa: float) -> float:
    """√m·κ: the floor grows like the length-m sums in row = (d⊙g) R
    (probabilistically, √m) and with the cancellation condition κ ≥ 1."""
    return math.sqrt(m) * (kappa if math.isfinite(kappa) else 1.0)


def verdict(dtype: str, err: Error, err_autograd: Error, ref_finite: bool = True,
            bug_effect: float | None = None, scale: float = 1.0) -> Verdict:
    """FlashAttention's rule, adapted: a method passes in dtype d when

        err_method ≤ 2·err_autograd + c·√m·κ·u_d        (relative errors)

    autograd's own error against the same reference stands for what rounding
    can do in d; the floor c (``dtypes.DTYPES[d].floor``) covers a lucky
    autograd, scaled by ``floor_scale(m, κ)``. ``bug_effect`` is a known
    variant's exact relative deviation from the correct gradient; below the
    threshold the dtype is too coarse to see it.
    """
    info = dtype_info(dtype)
    u = info.u

    def make(status, threshold, message):
        return Verdict(status, err.rel_err, err_autograd.rel_err, threshold, u,
                       bug_effect, message)

    if not ref_finite:
        return make("degenerate", math.nan,
                    "degenerate: the exact gradient is not finite (u = 0?)")
    if err.nonfinite and err_autograd.nonfinite:
        return make("degenerate", math.nan,
                    f"degenerate: {dtype} overflows or underflows here; autograd too "
                    f"gives {err_autograd.nonfinite} non-finite entries")
    if err.nonfinite:
        return make("fail", math.nan,
                    f"bug: {err.nonfinite} non-finite entries where autograd and the "
                    "reference are finite")
    floor = info.floor * scale * u
    auto = 0.0 if err_autograd.nonfinite else err_autograd.rel_err
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
