"""Small user functions for the verify tests: right and wrong backwards, and the
ways a candidate can misbehave."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def draws(*shape, seed=0):
    """Three seeded float64 N(0, 1) tensors of ``shape``: a point x, an upstream w and a
    direction v (the Taylor tests')."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(3)]


#: Functions with kinks and their right gradients of L = ⟨w, f(x)⟩ (the Taylor tests'),
#: with readable ids (``KINK_IDS``).
KINKS = [
    (torch.relu, lambda x, w: w * (x > 0)),
    (torch.abs, lambda x, w: w * torch.sign(x)),
    (lambda x: torch.clamp(x, -1, 1), lambda x, w: w * ((x > -1) & (x < 1))),
]
KINK_IDS = ["relu", "abs", "hardtanh"]


class SavedTanh(torch.autograd.Function):
    """y = tanh(x), y saved for the backward, which a subclass writes."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y


def square_reference(x):
    """y = x², in plain ops."""
    return x * x


class Square(torch.autograd.Function):
    """y = x², ∂x = 2x ∂y; ``mistake`` "half" gives x ∂y (a wrong factor)."""

    @staticmethod
    def forward(ctx, x, mistake=None):
        ctx.save_for_backward(x)
        ctx.mistake = mistake
        return x * x

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return (x if ctx.mistake == "half" else 2 * x) * dy, None


def square(x):
    return Square.apply(x)


def square_half(x):
    return Square.apply(x, "half")


class NanSquare(torch.autograd.Function):
    """y = x², its gradient right but for one NaN entry."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        grad = 2 * x * dy
        grad.view(-1)[0] = math.nan
        return grad


class Boom(torch.autograd.Function):
    """y = x², whose backward raises."""

    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, dy):
        raise RuntimeError("boom in backward")


def affine_reference(x, b):
    """y = 2x + b."""
    return 2 * x + b


class AffineNoBias(torch.autograd.Function):
    """y = 2x + b, whose backward gives no gradient for b."""

    @staticmethod
    def forward(ctx, x, b):
        return 2 * x + b

    @staticmethod
    def backward(ctx, dy):
        return 2 * dy, None


def cross_entropy_reference(logits, target):
    """mean(logsumexp(z) − z_t), plain ops."""
    lse = logits.exp().sum(-1).log()
    return (lse - logits.gather(-1, target.unsqueeze(-1)).squeeze(-1)).mean()


def torch_cross_entropy(logits, target):
    return F.cross_entropy(logits, target)


def two_outputs(x):
    """(x², x³) in plain ops."""
    return x * x, x * x * x
