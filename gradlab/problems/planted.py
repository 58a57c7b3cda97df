r"""Planted mistakes that fit any backward: a *pattern* bug and a *single-entry* bug.

Both sit in front of a correct function as an identity in the forward whose
backward alters the gradient that flows into the input, in the dtype u_d that
the gradient is computed in (or a given u, for the exact mathematics in float64):

    pattern       ∂x ↦ (1 + K·u_d) ∂x                 K = 10: every entry, 10 u normwise
    single entry  ∂x_i ↦ ∂x_i + sign(∂x_i)·K·u_d·max|∂x|,  i = argmax|∂x|,  K = 20

The pattern bug is what a wrong constant or a dropped term of order u looks like
to the normwise check; the single-entry bug what a wrong index or an off-by-one
edge looks like to the max-norm check.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gradlab.core.dtypes import dtype_info, dtype_name

__all__ = [
    "K_ENTRY", "K_PATTERN", "MoveEntry", "pattern", "ScaleGrad", "single_entry", "unit_roundoff"
]

#: K of the pattern bug (every gradient scaled by 1 + K·u_d).
K_PATTERN = 10
#: K of the single-entry bug (one entry moved by K·u_d·max|g|).
K_ENTRY = 20


def unit_roundoff(dtype: torch.dtype) -> float:
    """u of a torch floating dtype, from the one table (core.dtypes.DTYPES)."""
    return dtype_info(dtype_name(dtype)).u


class _Identity(torch.autograd.Function):
    """Identity forward that keeps k and u (None: the gradient's own unit roundoff)
    for a backward that alters the gradient."""

    @staticmethod
    def forward(ctx, x, k, u):
        ctx.k, ctx.u = k, u
        return x.view_as(x)

    @staticmethod
    def roundoff(ctx, grad) -> float:
        return unit_roundoff(grad.dtype) if ctx.u is None else ctx.u


class ScaleGrad(_Identity):
    """Backward ∂x ↦ (1 + k·u)·∂x."""

    @staticmethod
    def backward(ctx, grad):
        return grad * (1 + ctx.k * _Identity.roundoff(ctx, grad)), None, None


class MoveEntry(_Identity):
    """Backward: the largest-magnitude entry of ∂x moved away from 0 by k·u·max|∂x|."""

    @staticmethod
    def backward(ctx, grad):
        moved = grad.clone()
        flat = moved.view(-1)
        i = int(flat.abs().argmax())
        peak = flat[i]
        step = ctx.k * _Identity.roundoff(ctx, grad)
        flat[i] = peak + torch.where(peak < 0, -1.0, 1.0) * step * peak.abs()
        return moved, None, None


def pattern(fn: Callable, k: float = K_PATTERN, u: float | None = None) -> Callable:
    """``fn`` with the gradient of every floating argument scaled by (1 + k·u)."""
    def planted(*args):
        return fn(*(ScaleGrad.apply(a, k, u) if a.is_floating_point() else a for a in args))
    planted.__name__ = planted.__qualname__ = f"pattern({_name(fn)})"
    return planted


def single_entry(fn: Callable, index: int = 0, k: float = K_ENTRY,
                 u: float | None = None) -> Callable:
    """``fn`` with the largest entry of argument ``index``'s gradient moved by k·u·max|g|."""
    def planted(*args):
        moved = list(args)
        moved[index] = MoveEntry.apply(moved[index], k, u)
        return fn(*moved)
    planted.__name__ = planted.__qualname__ = f"single_entry({_name(fn)})"
    return planted


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
