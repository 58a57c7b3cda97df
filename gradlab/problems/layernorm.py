r"""LayerNorm over the last axis, forward and hand-written backward side by side.

Per row x (width n)::

    μ = mean(x),   σ = sqrt(mean((x − μ)²) + ε),   x̂ = (x − μ)/σ,   y = w ⊙ x̂ + b

Backward, with ĝ = w ⊙ ∂y per row::

    ∂x = (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) / σ
    ∂w = Σ_rows ∂y ⊙ x̂,    ∂b = Σ_rows ∂y

mean(ĝ) comes from ∂μ/∂x = 1/n, x̂·mean(ĝ ⊙ x̂) from ∂σ/∂x = x̂/n.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gradlab.problems.registry import (
    Problem,
    derivation_mistake,
    hand_written,
    kernel,
    planted_bugs,
)

__all__ = [
    "draw", "EPS", "layer_norm", "layer_norm_no_mean", "LayerNorm", "PROBLEM", "reference", "ROWS",
    "torch_layer_norm"
]

EPS = 1e-5
ROWS = 16


def reference(x, weight, bias):
    """y = w ⊙ (x − μ)/sqrt(var + ε) + b in plain torch ops (autograd differentiates it)."""
    centred = x - x.mean(-1, keepdim=True)
    var = (centred * centred).mean(-1, keepdim=True)
    return centred * torch.rsqrt(var + EPS) * weight + bias


class LayerNorm(torch.autograd.Function):
    """The forward above; ``mistake`` "no-mean" drops mean(ĝ) from ∂x."""

    @staticmethod
    def forward(ctx, x, weight, bias, mistake=None):
        centred = x - x.mean(-1, keepdim=True)                        # x − μ
        rstd = torch.rsqrt((centred * centred).mean(-1, keepdim=True) + EPS)  # 1/σ
        x_hat = centred * rstd                                        # x̂
        ctx.save_for_backward(x_hat, rstd, weight)
        ctx.mistake = mistake
        return x_hat * weight + bias                                  # y = w ⊙ x̂ + b

    @staticmethod
    def backward(ctx, dy):
        x_hat, rstd, weight = ctx.saved_tensors
        g = dy * weight                                               # ĝ = w ⊙ ∂y
        mean_g = g.mean(-1, keepdim=True)                             # mean(ĝ)
        if ctx.mistake == "no-mean":
            mean_g = torch.zeros_like(mean_g)
        dx = (g - mean_g - x_hat * (g * x_hat).mean(-1, keepdim=True)) * rstd
        width = dy.shape[-1]
        dw = (dy * x_hat).reshape(-1, width).sum(0)                   # Σ_rows ∂y ⊙ x̂
        db = dy.reshape(-1, width).sum(0)                             # Σ_rows ∂y
        return dx, dw, db, None


def layer_norm(x, weight, bias):
    """The hand-written backward (``LayerNorm``)."""
    return LayerNorm.apply(x, weight, bias)


def layer_norm_no_mean(x, weight, bias):
    """A derivation mistake: ∂x without the mean(ĝ) term."""
    return LayerNorm.apply(x, weight, bias, "no-mean")


def torch_layer_norm(x, weight, bias):
    """torch's fused CPU kernel, F.layer_norm."""
    return F.layer_norm(x, (x.shape[-1],), weight, bias, EPS)


def draw(width: int, seed: int) -> dict:
    """x: ROWS × width, weight and bias: width, each N(0, 1)."""
    return {"x": (ROWS, width), "weight": (width,), "bias": (width,)}


PROBLEM = Problem(
    name="layernorm",
    title="LayerNorm",
    formula="y = w ⊙ (x − mean(x))/sqrt(var(x) + ε) + b over rows of x (ε = 1e-5)",
    reference=reference,
    candidates=(
        hand_written(layer_norm, "∂x = (ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂))/σ, ∂w = Σ ∂y⊙x̂, ∂b = Σ ∂y"),
        kernel(torch_layer_norm, "torch's F.layer_norm"),
        derivation_mistake("no-mean", "∂x forgets mean(ĝ), the mean's own derivative",
                           layer_norm_no_mean, layer_norm),
        *planted_bugs(layer_norm, "x"),
    ),
    draw=draw,
    size_name="width",
    sizes=(64, 256, 1024, 4096),
    default_size=1024,
)
