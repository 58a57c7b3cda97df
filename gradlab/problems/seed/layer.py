r"""The seed layer: each forward formula, then its backward, side by side.

Per token x (a row of X)::

    a = W x                                   (m,)
    r = sqrt(mean(a²))                        the ε-free RMS
    u = sqrt(mean(a²) + ε)    "inside"        torch.nn.RMSNorm, LLaMA
    u = r + ε                 "outside"       the RMSNorm paper
    v = g ⊙ a / u + b                         (m,)
    L = Σ_tokens Σ_i v_i²

Every function uses operators, ``sum`` over tokens, ``sqrt``, and the sums and
means over the last axis of ``precise.sum_last``/``mean_last`` (the same at any
torch thread count) only, so the same code runs on torch tensors (in the case's
dtype, for the ``structured`` method and for autograd) and, for the reference, on
numpy ``longdouble`` arrays or double-double arrays (gradlab/core/doubledouble.py).
Token-wise quantities keep a trailing axis of length 1: u is (batch, 1).
"""

from __future__ import annotations

import numpy as np
import torch

from gradlab.core.precise import mean_last, sum_last

__all__ = [
    "d_bias", "d_gain", "d_input", "d_output", "d_pre_activation", "d_weight", "loss", "matmul",
    "output", "pre_activation", "projection_denominator", "rms", "scale", "sqrt"
]

INSIDE, OUTSIDE = "inside", "outside"


def matmul(A, B):
    """A B. numpy's longdouble matmul is a slow generic loop; einsum is ~20× faster.
    torch's matmul with an inner size of 1 (one token's outer product) is ~1.6×
    slower than torch.outer. A double-double array has its own ``@``."""
    if isinstance(A, np.ndarray):
        return np.einsum("ik,kj->ij", A, B)
    if isinstance(A, torch.Tensor) and A.shape[-1] == 1 and A.dim() == 2 and B.dim() == 2:
        return torch.outer(A[:, 0], B[0])
    return A @ B


def sqrt(x):
    return np.sqrt(x) if isinstance(x, np.ndarray) else x.sqrt()


# ---------------------------------------------------------------- forward

def pre_activation(W, X):
    """a = W x for every token: A = X Wᵀ, (batch, m)."""
    return matmul(X, W.T)


def rms(a):
    """r = sqrt(mean(a²)), (batch, 1)."""
    return sqrt(mean_last(a**2, keepdim=True))


def scale(a, eps, placement):
    """u = sqrt(mean(a²) + ε) (inside) or sqrt(mean(a²)) + ε (outside)."""
    if placement == INSIDE:
        return sqrt(mean_last(a**2, keepdim=True) + eps)
    return rms(a) + eps


def output(a, u, g, b):
    """v = g ⊙ (a / u) + b."""
    return g * (a / u) + b


def loss(v):
    """L = Σ v²."""
    return (v**2).sum()


# --------------------------------------------------------------- backward

def d_output(v):
    """∂L/∂v = 2v."""
    return 2 * v


def projection_denominator(a, u, eps, placement):
    """D in ∂(a/u)/∂a = (1/u)(I − a aᵀ/D).

    inside:  ∂u/∂a = a/(m u), so ∂(a_i/u)/∂a_j = δ_ij/u − a_i a_j/(m u³): D = m u².
    outside: ∂u/∂a = a/(m r), so ∂(a_i/u)/∂a_j = δ_ij/u − a_i a_j/(m r u²): D = m r u.
    With ε = 0 both are m r².
    """
    m = a.shape[-1]
    if placement == INSIDE:
        return m * u**2
    return m * rms(a) * u


def d_pre_activation(a, u, D, d, g):
    """row = ∂L/∂a = (d⊙g) R with R = (1/u)(I − a aᵀ/D), in O(m) per token.

    R is symmetric, so (d⊙g) R = (dg − a (a·dg)/D)/u: R is never formed.
    """
    dg = d * g
    return (1 / u) * (dg - a * sum_last(a * dg, keepdim=True) / D)


def d_weight(rows, X):
    """∂L/∂W = Σ_tokens row xᵀ = Rowsᵀ X, (m, n)."""
    return matmul(rows.T, X)


def d_input(rows, W):
    """∂L/∂x = row W for every token, (batch, n)."""
    return matmul(rows, W)


def d_gain(d, a, u):
    """∂L/∂g = Σ_tokens d ⊙ a/u, (m,)."""
    return (d * a / u).sum(axis=0)


def d_bias(d):
    """∂L/∂b = Σ_tokens d, (m,)."""
    return d.sum(axis=0)
