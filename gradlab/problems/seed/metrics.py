"""The seed layer's metrics: dL/dW errors in one blocked pass (both norms), and the
scale residual."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gradlab.core.precise import Scratch, abs_max, blocks, fixed_dot, worst
from gradlab.core.verdict import Error, make_error
from gradlab.problems.seed.reference import Reference

__all__ = ["error", "nonfinite", "scale_residual", "weight_metrics", "WeightMetrics"]


def error(reference: Reference, param: str, grad: torch.Tensor, dtype: str) -> Error:
    """``grad``'s error in ``param`` (x, g or b) against the reference, in both norms,
    the difference taken in the reference precision."""
    abs_err, fro_abs = reference.error(param, grad)
    return make_error(abs_err, reference.max_abs(param), dtype, nonfinite(grad, abs_err),
                      fro_abs, reference.fro(param))


def nonfinite(grad: torch.Tensor, abs_err: float) -> int:
    """NaN or ±inf entries of ``grad``: counted only when they made ``abs_err`` non-finite."""
    return 0 if math.isfinite(abs_err) else int((~torch.isfinite(grad)).sum())


@dataclass(frozen=True)
class WeightMetrics:
    """What one pass over dL/dW gives for every method (keyed by method): max|G − ref|,
    ‖G − ref‖_F, max |G − G_autograd|, the scale residual; and ‖ref‖_F."""

    abs_err: dict
    fro_abs: dict
    max_abs_diff: dict
    residual: dict
    ref_fro: float

    def error(self, name: str, reference: Reference, grad: torch.Tensor, dtype: str) -> Error:
        """Method ``name``'s dL/dW error in both norms."""
        abs_err = self.abs_err[name]
        return make_error(abs_err, reference.max_abs("W"), dtype, nonfinite(grad, abs_err),
                          self.fro_abs[name], self.ref_fro)


def weight_metrics(reference: Reference, W: torch.Tensor, grads: dict,
                   residual: bool) -> WeightMetrics:
    """Each method's dL/dW error against the reference (max and Frobenius), its
    max |Δ| against autograd and (if ``residual``) its scale residual, in one pass
    over W's row blocks, so that every m×n array is read once while its block is
    in cache. Every sum is thread-count independent (``precise.fixed_dot``).

    The same numbers as ``Reference.error`` and ``scale_residual``, one method at
    a time, and max |grad − grad_autograd| taken in float64.
    """
    names = list(grads)
    err = dict.fromkeys(names, 0.0)
    dev_ss = dict.fromkeys(names, 0.0)
    diff = {name: 0.0 for name in names if name != "autograd"}
    dot, gg, ww = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0), 0.0
    ref_ss = 0.0
    scratch = Scratch(W.shape[1])
    for sl in blocks(*W.shape):
        k = sl.stop - sl.start
        parts = reference.weight_parts(sl, scratch)
        ref_ss += fixed_dot(parts[0], parts[0])
        dev = {name: reference.deviation(parts, G[sl], scratch.get(name, k))
               for name, G in grads.items()}
        for name in names:
            err[name] = worst(err[name], abs_max(dev[name]))
            dev_ss[name] += fixed_dot(dev[name], dev[name])
        for name in diff:
            # (G − ref) − (G_autograd − ref): exact where both are near the reference
            delta = torch.sub(dev[name], dev["autograd"], out=scratch.get("delta", k))
            diff[name] = worst(diff[name], abs_max(delta))
        if residual:
            Wb = scratch.get("W", k).copy_(W[sl]).view(-1)
            ww += fixed_dot(Wb, Wb)
            for name, G in grads.items():
                flat = scratch.get("G", k).copy_(G[sl]).view(-1)
                dot[name] += fixed_dot(flat, Wb)
                gg[name] += fixed_dot(flat, flat)
    res = {name: _cosine(dot[name], gg[name], ww) if residual else None for name in names}
    fro = {name: math.sqrt(ss) for name, ss in dev_ss.items()}
    reference.remember_fro(math.sqrt(ref_ss))
    return WeightMetrics(err, fro, diff, res, reference.fro("W"))


def scale_residual(grad: torch.Tensor, W: torch.Tensor) -> float:
    """⟨dL/dW, W⟩ / (‖dL/dW‖ ‖W‖).

    With ε = 0, L(cW) = L(W) for every c > 0 (a and u scale together), so
    d/dc L(cW) at c = 1, which is ⟨dL/dW, W⟩, is 0: the residual is rounding.
    """
    dot = gg = ww = 0.0
    for sl in blocks(*W.shape):  # in float64, a cache-sized block at a time
        G, Wb = grad[sl].double().flatten(), W[sl].double().flatten()
        dot += fixed_dot(G, Wb)
        gg += fixed_dot(G, G)
        ww += fixed_dot(Wb, Wb)
    return _cosine(dot, gg, ww)


def _cosine(dot: float, gg: float, ww: float) -> float:
    """dot/√(gg·ww): 0 for a zero gradient, NaN for a non-finite one."""
    norm = math.sqrt(gg * ww)
    if math.isnan(norm) or math.isnan(dot):
        return math.nan
    return dot / norm if norm > 0 else 0.0
