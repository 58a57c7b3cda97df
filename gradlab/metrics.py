"""Errors against the reference, the context bounds, and the verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gradlab.dtypes import dtype_info
from gradlab.reference import Reference, Scratch, _abs_max, blocks, worst


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


def error(reference: Reference, param: str, grad: torch.Tensor, dtype: str) -> Error:
    """``grad``'s error in ``param`` against the reference."""
    return make_error(reference.error(param, grad), reference.max_abs(param), grad, dtype)


@dataclass(frozen=True)
class WeightMetrics:
    """What one pass over dL/dW gives for every method (keyed by method)."""

    abs_err: dict
    max_abs_diff: dict
    residual: dict


def weight_metrics(reference: Reference, W: torch.Tensor, grads: dict,
                   residual: bool) -> WeightMetrics:
    """Each method's dL/dW error against the reference, its max |Δ| against
    autograd and (if ``residual``) its scale residual, in one pass over W's row
    blocks, so that every m×n array is read once while its block is in cache.

    The same numbers as ``error`` and ``scale_residual``, one method at a time,
    and max |grad − grad_autograd| taken in float64.
    """
    names = list(grads)
    err = dict.fromkeys(names, 0.0)
    diff = {name: 0.0 for name in names if name != "autograd"}
    dot, gg, ww = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0), 0.0
    scratch = Scratch(W.shape[1])
    for sl in blocks(*W.shape):
        k = sl.stop - sl.start
        parts = reference.weight_parts(sl, scratch)
        dev = {name: reference.deviation(parts, G[sl], scratch.get(name, k))
               for name, G in grads.items()}
        for name in names:
            err[name] = worst(err[name], _abs_max(dev[name]))
        for name in diff:
            # (G − ref) − (G_autograd − ref): exact where both are near the reference
            delta = torch.sub(dev[name], dev["autograd"], out=scratch.get("delta", k))
            diff[name] = worst(diff[name], _abs_max(delta))
        if residual:
            Wb = scratch.get("W", k).copy_(W[sl]).view(-1)
            ww += float(torch.dot(Wb, Wb))
            for name, G in grads.items():
                flat = scratch.get("G", k).copy_(G[sl]).view(-1)
                dot[name] += float(torch.dot(flat, Wb))
                gg[name] += float(torch.dot(flat, flat))
    res = {name: _cosine(dot[name], gg[name], ww) if residual else None for name in names}
    return WeightMetrics(err, diff, res)


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
    dot = gg = ww = 0.0
    for sl in blocks(*W.shape):  # in float64, a cache-sized block at a time
        G, Wb = grad[sl].double().flatten(), W[sl].double().flatten()
        dot += float(torch.dot(G, Wb))
        gg += float(torch.dot(G, G))
        ww += float(torch.dot(Wb, Wb))
    return _cosine(dot, gg, ww)


def _cosine(dot: float, gg: float, ww: float) -> float:
    """dot/√(gg·ww): 0 for a zero gradient, NaN for a non-finite one."""
    norm = math.sqrt(gg * ww)
    if math.isnan(norm) or math.isnan(dot):
        return math.nan
    return dot / norm if norm > 0 else 0.0


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


def floor_scale(m: int, kappa: float, dtype: str) -> float:
    """s = κ·(1 + √m·u_acc/u), in units of u.

    Storage rounding gives the 1; the length-m sums in row = (d⊙g) R add
    √m·u_acc (probabilistically), where u_acc is the accumulation dtype's unit
    roundoff (float32 for bfloat16 and float16); the cancellation condition
    κ ≥ 1 magnifies both.
    """
    info = dtype_info(dtype)
    kappa = kappa if math.isfinite(kappa) else 1.0
    return kappa * (1 + math.sqrt(m) * info.u_acc / info.u)


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
