"""The seed layer's metrics: dL/dW errors in one blocked pass, the scale residual,
and the verdict's floor scale s."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import dtype_info
from gradlab.core.precise import Scratch, abs_max, blocks, worst
from gradlab.core.verdict import Error, make_error
from gradlab.problems.seed.reference import Reference


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
            err[name] = worst(err[name], abs_max(dev[name]))
        for name in diff:
            # (G − ref) − (G_autograd − ref): exact where both are near the reference
            delta = torch.sub(dev[name], dev["autograd"], out=scratch.get("delta", k))
            diff[name] = worst(diff[name], abs_max(delta))
        if residual:
            Wb = scratch.get("W", k).copy_(W[sl]).view(-1)
            ww += float(torch.dot(Wb, Wb))
            for name, G in grads.items():
                flat = scratch.get("G", k).copy_(G[sl]).view(-1)
                dot[name] += float(torch.dot(flat, Wb))
                gg[name] += float(torch.dot(flat, flat))
    res = {name: _cosine(dot[name], gg[name], ww) if residual else None for name in names}
    return WeightMetrics(err, diff, res)


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
