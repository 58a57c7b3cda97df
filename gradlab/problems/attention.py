r"""Scaled dot-product attention, forward and hand-written backward side by side.

For q, k, v (batch × L × D)::

    S = q kᵀ / √D,   P = softmax(S) per row,   O = P v

Backward::

    ∂v = Pᵀ ∂O,   ∂P = ∂O vᵀ,   ∂S = P ⊙ (∂P − rowsum(∂P ⊙ P)),
    ∂q = ∂S k / √D,   ∂k = ∂Sᵀ q / √D

The subtraction of rowsum(∂P ⊙ P) is softmax's Jacobian diag(p) − p pᵀ.
"""

from __future__ import annotations

import math

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
    "Attention", "attention", "attention_no_subtraction", "BATCH", "draw", "HEAD_DIM", "PROBLEM",
    "reference", "torch_attention"
]

BATCH = 4
HEAD_DIM = 64


def reference(q, k, v):
    """softmax(q kᵀ/√D) v in plain torch ops."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return torch.softmax(scores, -1) @ v


class Attention(torch.autograd.Function):
    """The forward above; ``mistake`` "no-subtraction" takes ∂S = P ⊙ ∂P, dropping
    the Jacobian's − p pᵀ."""

    @staticmethod
    def forward(ctx, q, k, v, mistake=None):
        scale = 1 / math.sqrt(q.shape[-1])
        P = torch.softmax(q @ k.transpose(-2, -1) * scale, -1)       # P = softmax(q kᵀ/√D)
        ctx.save_for_backward(q, k, v, P)
        ctx.scale, ctx.mistake = scale, mistake
        return P @ v                                                  # O = P v

    @staticmethod
    def backward(ctx, dO):
        q, k, v, P = ctx.saved_tensors
        dv = P.transpose(-2, -1) @ dO                                 # ∂v = Pᵀ ∂O
        dP = dO @ v.transpose(-2, -1)                                 # ∂P = ∂O vᵀ
        if ctx.mistake == "no-subtraction":
            dS = P * dP
        else:
            dS = P * (dP - (dP * P).sum(-1, keepdim=True))            # ∂S = P ⊙ (∂P − rowsum)
        dq = dS @ k * ctx.scale                                       # ∂q = ∂S k/√D
        dk = dS.transpose(-2, -1) @ q * ctx.scale                     # ∂k = ∂Sᵀ q/√D
        return dq, dk, dv, None


def attention(q, k, v):
    """The hand-written backward (``Attention``)."""
    return Attention.apply(q, k, v)


def attention_no_subtraction(q, k, v):
    """A derivation mistake: ∂S = P ⊙ ∂P, softmax's Jacobian without − p pᵀ."""
    return Attention.apply(q, k, v, "no-subtraction")


def torch_attention(q, k, v):
    """torch's fused F.scaled_dot_product_attention."""
    return F.scaled_dot_product_attention(q, k, v)


def draw(length: int, seed: int) -> dict:
    """q, k, v: BATCH × length × HEAD_DIM, N(0, 1)."""
    shape = (BATCH, length, HEAD_DIM)
    return {"q": shape, "k": shape, "v": shape}


PROBLEM = Problem(
    name="attention",
    title="Scaled dot-product attention",
    formula="O = softmax(q kᵀ/√D) v for q, k, v of batch × L × D (D = 64)",
    reference=reference,
    candidates=(
        hand_written(attention, "∂S = P ⊙ (∂P − rowsum(∂P ⊙ P)), ∂q = ∂S k/√D, "
                                "∂k = ∂Sᵀ q/√D, ∂v = Pᵀ ∂O"),
        kernel(torch_attention, "torch's F.scaled_dot_product_attention"),
        derivation_mistake("no-subtraction", "softmax's Jacobian without − p pᵀ: ∂S = P ⊙ ∂P",
                           attention_no_subtraction, attention),
        *planted_bugs(attention, "q"),
    ),
    draw=draw,
    size_name="sequence length",
    sizes=(16, 64, 256, 1024),
    default_size=256,
)
