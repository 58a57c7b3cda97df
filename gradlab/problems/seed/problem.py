r"""The seed layer as a verify problem: the ``structured`` kernel as an autograd.Function.

Per token x (a row of X)::

    a = W x,   u = sqrt(mean(a²) + ε),   v = g ⊙ a/u + b,   L = Σ_tokens Σ_i v_i²

Backward (gradlab/problems/seed/gradients.py, ``structured_grads``), with â = a/u,
d = ∂L/∂v = 2v and dg = d ⊙ g::

    row = (dg − â (â·dg)/m)/u,   ∂W = Σ row xᵀ,   ∂x = row W,   ∂g = Σ d ⊙ â,   ∂b = Σ d

The seed keeps its richer ``check`` (longdouble reference, κ, the Kronecker
form); here the same kernel meets verify's generic rule (κ = 1), and the bug zoo's
derivation mistakes (gradients.VARIANTS) are planted candidates.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gradlab.problems.registry import (
    Candidate,
    Problem,
    derivation_mistake,
    hand_written,
    kernel,
    planted_bugs,
    problem_generator,
)
from gradlab.problems.seed import gradients, layer

__all__ = [
    "draw", "EPS", "PLACEMENT", "PROBLEM", "reference", "seed_layer", "SeedLayer", "TOKENS",
    "torch_rms_norm"
]

EPS = 1e-5
PLACEMENT = layer.INSIDE
TOKENS = 4


def reference(W, x, g, b):
    """L = Σ v² of the seed's forward (layer.py) in plain torch ops."""
    return layer.loss(gradients.forward(W, x, g, b, EPS, PLACEMENT).v)


class SeedLayer(torch.autograd.Function):
    """The forward above; the backward is the seed's ``structured`` kernel, for
    ``variant`` one of the bug zoo's derivation mistakes (None: as derived)."""

    @staticmethod
    def forward(ctx, W, x, g, b, variant=None):
        ctx.save_for_backward(W, x, g, b)
        ctx.variant = variant
        return reference(W, x, g, b)

    @staticmethod
    def backward(ctx, dL):
        W, x, g, b = ctx.saved_tensors
        grads = gradients.structured_grads(W, x, g, b, EPS, PLACEMENT, ctx.variant)
        return (*(grads[p] * dL for p in gradients.PARAMS), None)


def seed_layer(W, x, g, b):
    """The seed's structured backward (``SeedLayer``)."""
    return SeedLayer.apply(W, x, g, b)


def torch_rms_norm(W, x, g, b):
    """a = x Wᵀ by autograd, then torch's F.rms_norm for g ⊙ a/u: L = Σ (… + b)²."""
    a = x @ W.T
    v = F.rms_norm(a, (a.shape[-1],), g, EPS) + b
    return (v * v).sum()


def _variant(name: str) -> Candidate:
    def planted(W, x, g, b):
        return SeedLayer.apply(W, x, g, b, name)
    planted.__name__ = planted.__qualname__ = f"seed_layer_{name.replace('-', '_')}"
    return derivation_mistake(name, gradients.VARIANTS[name], planted, seed_layer)


def draw(width: int, seed: int) -> dict:
    """W (width × width) ~ N(0, 1)/√width from the problem's stream, so a = W x is of
    order 1; x (TOKENS × width), g and b (width) ~ N(0, 1)."""
    W = torch.randn(width, width, generator=problem_generator(seed), dtype=torch.float64)
    return {"W": W / math.sqrt(width), "x": (TOKENS, width), "g": (width,), "b": (width,)}


PROBLEM = Problem(
    name="seed",
    title="The seed layer",
    formula="L = Σ (g ⊙ a/sqrt(mean(a²) + ε) + b)², a = W x per token (ε = 1e-5, m = n = width)",
    reference=reference,
    candidates=(
        hand_written(seed_layer, "the seed's structured kernel: row = (dg − â(â·dg)/m)/u, "
                                 "∂W = Σ row xᵀ"),
        kernel(torch_rms_norm, "torch's F.rms_norm on a = x Wᵀ"),
        *(_variant(name) for name in gradients.VARIANTS),
        *planted_bugs(seed_layer, "W"),
    ),
    draw=draw,
    size_name="width",
    sizes=(64, 256, 1024, 4096),
    default_size=256,
)
