"""A user's module for the Verify page's module:function source (tests put this
folder on sys.path): y = x ⊙ w with rows of x scaled by the same w.

- ``reference``: x * w in plain torch ops;
- ``product``: a custom autograd.Function, backward ∂x = ∂y ⊙ w, ∂w = Σ_rows ∂y ⊙ x;
- ``product_wrong``: the same with ∂x = 2 ∂y ⊙ w (a planted factor);
- ``raising``: raises in its forward, like a candidate with a bug in its call.
"""

from __future__ import annotations

import torch


def reference(x, w):
    return x * w


class Product(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, factor):
        ctx.save_for_backward(x, w)
        ctx.factor = factor
        return x * w

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        return ctx.factor * dy * w, (dy * x).sum(0), None


def product(x, w):
    return Product.apply(x, w, 1)


def product_wrong(x, w):
    return Product.apply(x, w, 2)


def raising(x, w):
    raise ValueError("planted failure in the candidate")
