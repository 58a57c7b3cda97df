r"""GELU in its tanh form, forward and hand-written backward side by side.

Elementwise, with c = sqrt(2/π) and a = 0.044715::

    z = c (x + a x³),   t = tanh(z),   y = ½ x (1 + t)

Backward::

    ∂x = ∂y · (½ (1 + t) + ½ x (1 − t²) · c (1 + 3 a x²))

(1 − t²) is tanh's derivative, c (1 + 3 a x²) the derivative of its argument z.
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
    "A", "C", "draw", "Gelu", "gelu", "gelu_tanh_arg", "PROBLEM", "reference", "ROWS", "torch_gelu"
]

C = math.sqrt(2 / math.pi)
A = 0.044715
ROWS = 16


def reference(x):
    """½ x (1 + tanh(c (x + a x³))) in plain torch ops."""
    return 0.5 * x * (1 + torch.tanh(C * (x + A * x * x * x)))


class Gelu(torch.autograd.Function):
    """The forward above; ``mistake`` "tanh-arg" differentiates z as c (1 + a x²),
    forgetting the power rule's 3."""

    @staticmethod
    def forward(ctx, x, mistake=None):
        t = torch.tanh(C * (x + A * x * x * x))                      # t = tanh(z)
        ctx.save_for_backward(x, t)
        ctx.mistake = mistake
        return 0.5 * x * (1 + t)                                      # y = ½ x (1 + t)

    @staticmethod
    def backward(ctx, dy):
        x, t = ctx.saved_tensors
        power = 1 if ctx.mistake == "tanh-arg" else 3
        dz = C * (1 + power * A * x * x)                              # ∂z/∂x = c (1 + 3 a x²)
        return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dz), None


def gelu(x):
    """The hand-written backward (``Gelu``)."""
    return Gelu.apply(x)


def gelu_tanh_arg(x):
    """A derivation mistake: ∂z/∂x = c (1 + a x²) instead of c (1 + 3 a x²)."""
    return Gelu.apply(x, "tanh-arg")


def torch_gelu(x):
    """torch's fused F.gelu(approximate="tanh")."""
    return F.gelu(x, approximate="tanh")


def draw(width: int, seed: int) -> dict:
    """x: ROWS × width, N(0, 1)."""
    return {"x": (ROWS, width)}


PROBLEM = Problem(
    name="gelu",
    title="GELU (tanh form)",
    formula="y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))), elementwise",
    reference=reference,
    candidates=(
        hand_written(gelu, "∂x = ∂y·(½(1 + t) + ½x(1 − t²)·c(1 + 3a x²))"),
        kernel(torch_gelu, "torch's F.gelu(approximate='tanh')"),
        derivation_mistake("tanh-arg", "tanh's argument differentiated as c(1 + a x²), "
                                       "the power rule's 3 forgotten", gelu_tanh_arg, gelu),
        *planted_bugs(gelu, "x"),
    ),
    draw=draw,
    size_name="width",
    sizes=(64, 1024, 16384),
    default_size=1024,
)
