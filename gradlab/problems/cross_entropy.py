r"""Softmax cross-entropy, mean over rows, with integer class targets.

For logits z (N × C) and targets t (N class indices)::

    p = softmax(z) per row,   L = −(1/N) Σ_i log p_{i,t_i} = (1/N) Σ_i (logsumexp(z_i) − z_{i,t_i})

Backward::

    ∂z = (p − onehot(t)) · ∂L / N

The targets are integers: they pass through unchanged and get no gradient.
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
    problem_generator,
)

__all__ = [
    "cross_entropy", "cross_entropy_no_mean", "CrossEntropy", "draw", "PROBLEM", "reference",
    "ROWS", "torch_cross_entropy"
]

ROWS = 64


def reference(logits, target):
    """mean(logsumexp(z) − z_t) in plain torch ops, the max shifted out for range
    (its derivative is 0: the shift cancels)."""
    peak = logits.max(-1, keepdim=True).values.detach()
    lse = peak + (logits - peak).exp().sum(-1, keepdim=True).log()
    picked = logits.gather(-1, target.unsqueeze(-1))
    return (lse - picked).mean()


class CrossEntropy(torch.autograd.Function):
    """The forward above; ``mistake`` "no-1/N" leaves out the mean's 1/N."""

    @staticmethod
    def forward(ctx, logits, target, mistake=None):
        log_p = torch.log_softmax(logits, -1)
        ctx.save_for_backward(log_p, target)
        ctx.mistake = mistake
        return -log_p.gather(-1, target.unsqueeze(-1)).mean()        # −mean log p_t

    @staticmethod
    def backward(ctx, dL):
        log_p, target = ctx.saved_tensors
        p = log_p.exp()
        onehot = torch.zeros_like(p).scatter_(-1, target.unsqueeze(-1), 1)
        rows = 1 if ctx.mistake == "no-1/N" else target.numel()
        return (p - onehot) * (dL / rows), None, None                 # (p − onehot)·∂L/N


def cross_entropy(logits, target):
    """The hand-written backward (``CrossEntropy``)."""
    return CrossEntropy.apply(logits, target)


def cross_entropy_no_mean(logits, target):
    """A derivation mistake: ∂z = (p − onehot)·∂L, the mean's 1/N forgotten."""
    return CrossEntropy.apply(logits, target, "no-1/N")


def torch_cross_entropy(logits, target):
    """torch's fused F.cross_entropy (log-softmax and NLL)."""
    return F.cross_entropy(logits, target)


def draw(classes: int, seed: int) -> dict:
    """logits: ROWS × classes, N(0, 1); target: ROWS indices uniform in [0, classes)."""
    target = torch.randint(0, classes, (ROWS,), generator=problem_generator(seed))
    return {"logits": (ROWS, classes), "target": target}


PROBLEM = Problem(
    name="cross-entropy",
    title="Softmax cross-entropy",
    formula="L = mean_i(logsumexp(z_i) − z_{i,t_i}) over rows of logits z, integer targets t",
    reference=reference,
    candidates=(
        hand_written(cross_entropy, "∂z = (softmax(z) − onehot(t))·∂L/N"),
        kernel(torch_cross_entropy, "torch's F.cross_entropy"),
        derivation_mistake("no-1/N", "∂z forgets the mean's 1/N", cross_entropy_no_mean,
                           cross_entropy),
        *planted_bugs(cross_entropy, "logits"),
    ),
    draw=draw,
    size_name="classes",
    sizes=(16, 128, 1024, 8192),
    default_size=1024,
)
