"""The reference gradient: the structured formulas in higher precision, on
the same rounded inputs, so that only arithmetic error is measured.

For a float32, bfloat16 or float16 case the reference is float64 (torch).
For a float64 case it is numpy ``longdouble`` (x87 80-bit, unit roundoff
2⁻⁶⁴), since a float64 reference would read float64's own error as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gradlab import layer
from gradlab.gradients import denominator, forward, structured_grads
from gradlab.inputs import Inputs

LONGDOUBLE_EPS = float(np.finfo(np.longdouble).eps)


@dataclass(frozen=True)
class Reference:
    """Gradients in the reference precision, keyed like PARAMS."""

    precision: str
    grads: dict
    term_scale: float

    def to_float64(self, param: str) -> np.ndarray:
        value = self.grads[param]
        if isinstance(value, torch.Tensor):
            return value.numpy()
        return value.astype(np.float64)

    def error(self, param: str, grad: torch.Tensor) -> float:
        """max |grad − ref|, the difference taken in the reference precision."""
        ref = self.grads[param]
        if isinstance(ref, torch.Tensor):
            return float(np.abs((grad.to(torch.float64).cpu() - ref).numpy()).max(initial=0.0))
        return float(np.abs(grad.cpu().numpy().astype(np.longdouble) - ref).max(initial=0.0))

    def max_abs(self, param: str) -> float:
        ref = self.grads[param]
        if isinstance(ref, torch.Tensor):
            return float(ref.abs().max()) if ref.numel() else 0.0
        return float(np.abs(ref).max(initial=0.0))


def extended(inputs: Inputs) -> tuple:
    """W, X, g, b, ε as numpy longdouble (exact: every float64 fits)."""
    return tuple(t.numpy().astype(np.longdouble) for t in
                 (inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps))


def reference_grads(inputs: Inputs, placement: str, variant: str | None = None) -> Reference:
    """The correct gradients (or, with ``variant``, what that mistake computes
    exactly) from the inputs as rounded to the case dtype. Always on the CPU."""
    inputs = inputs.on("cpu")
    if inputs.dtype == torch.float64:
        W, X, g, b, eps = extended(inputs)
        precision = "longdouble"
    else:
        wide = inputs.to(torch.float64)
        W, X, g, b, eps = wide.W, wide.X, wide.g, wide.b, wide.eps
        precision = "float64"
    with torch.no_grad():
        grads = structured_grads(W, X, g, b, eps, placement, variant)
        scale = term_scale(inputs.to(torch.float64), placement)
    return Reference(precision, grads, scale)


def term_scale(inputs: Inputs, placement: str) -> float:
    """The size of the terms that cancel into dL/dW, before they cancel.

    dL/dW_ij = Σ_t row_ti x_tj with row = (dg − a (a·dg)/D)/u. Bounding each
    term by its magnitude gives p = (|dg| + |a| |a·dg|/D)/u and
    T = Σ_t max_i p_ti · max_j |x_tj| ≥ max_ij Σ_t p_ti |x_tj|.
    κ = T / max|dL/dW| ≥ 1 is the condition of the cancellation: when dg is
    nearly parallel to a, the gradient is small beside its terms, and rounding
    of the terms is large beside the gradient.
    """
    W, X, g, b, eps = inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps
    fw = forward(W, X, g, b, eps, placement)
    dg = layer.d_output(fw.v) * g
    D = denominator(fw.a, fw.u, eps, placement, None)
    p = (dg.abs() + fw.a.abs() * (fw.a * dg).sum(axis=-1, keepdims=True).abs() / D) / fw.u
    return float((p.amax(dim=-1) * X.abs().amax(dim=-1)).sum())
