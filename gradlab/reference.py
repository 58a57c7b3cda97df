"""The reference gradient: the structured formulas in higher precision, on
the same rounded inputs, so that only arithmetic error is measured.

For a float32, bfloat16 or float16 case the reference is float64 (torch).
For a float64 case it is numpy ``longdouble`` (x87 80-bit, unit roundoff
2⁻⁶⁴), since a float64 reference would read float64's own error as 0.

dL/dW = Rowsᵀ X is m×n, the one large gradient. The reference keeps its two
factors and goes through W in blocks of rows: W is widened a block at a time,
and dL/dW is formed a block at a time while it is compared, so no m×n array is
ever held in the wider precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from gradlab import gradients, layer
from gradlab.inputs import Inputs

BLOCK_ENTRIES = 1 << 18  # entries of W per block: 2 MiB of float64, cache-sized


def blocks(m: int, n: int):
    """Slices of W's rows, each about BLOCK_ENTRIES entries."""
    step = max(1, BLOCK_ENTRIES // max(n, 1))
    for start in range(0, m, step):
        yield slice(start, min(start + step, m))


def _abs_max(x) -> float:
    """max |x| (NaN if x has a NaN; 0 if empty), for torch or numpy."""
    if isinstance(x, torch.Tensor):
        return float(x.abs().max()) if x.numel() else 0.0
    return float(np.abs(x).max()) if x.size else 0.0


def worst(*values: float) -> float:
    """The largest value, NaN if any is NaN (Python's max drops a NaN that is
    not first)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values, default=0.0)


@dataclass(frozen=True)
class Reference:
    """Gradients in the reference precision.

    ``rows`` (batch×m) and ``X`` (batch×n) are the factors of dL/dW = Rowsᵀ X;
    ``grads`` holds x, g and b, and W as well when it was formed whole.
    """

    precision: str
    shape: tuple[int, int]
    rows: object
    X: object
    grads: dict
    term_scale: float
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def widen(self, t: torch.Tensor):
        """A tensor of the case dtype, exactly, in the reference precision."""
        if self.precision == "float64":
            return t.cpu().to(torch.float64)
        return t.cpu().numpy().astype(np.longdouble)

    def weight_block(self, sl: slice):
        """Rows ``sl`` of dL/dW."""
        if "W" in self.grads:
            return self.grads["W"][sl]
        return layer.d_weight(self.rows[:, sl], self.X)

    def _weight_diff(self, sl: slice, block):
        """block − rows ``sl`` of dL/dW; torch fuses it into one kernel
        (addr for one token: addmm with an inner size of 1 is 13× slower)."""
        if "W" not in self.grads and isinstance(block, torch.Tensor):
            if self.X.shape[0] == 1:
                return torch.addr(block, self.rows[0, sl], self.X[0], alpha=-1)
            return torch.addmm(block, self.rows[:, sl].T, self.X, alpha=-1)
        return block - self.weight_block(sl)

    def block_error(self, sl: slice, grad_block: torch.Tensor) -> float:
        """max |grad − ref| over rows ``sl`` of dL/dW, in the reference precision."""
        return _abs_max(self._weight_diff(sl, self.widen(grad_block)))

    def error(self, param: str, grad: torch.Tensor) -> float:
        """max |grad − ref|, the difference taken in the reference precision
        (NaN when grad has a NaN)."""
        if param != "W":
            return _abs_max(self.widen(grad) - self.grads[param])
        return worst(*(self.block_error(sl, grad[sl]) for sl in blocks(*self.shape)))

    def distance(self, other: Reference) -> float:
        """max |dL/dW − other's dL/dW|, both exact to the reference precision."""
        return worst(*(_abs_max(self._weight_diff(sl, other.weight_block(sl)))
                       for sl in blocks(*self.shape)))

    def max_abs(self, param: str) -> float:
        if param not in self._cache:
            if param != "W":
                value = _abs_max(self.grads[param])
            elif "W" not in self.grads and self.rows.shape[0] == 1:
                # One token: dL/dW = row xᵀ, and rounding is monotonic, so
                # max |row_i x_j| is max|row| · max|x|, rounded once.
                value = float(abs(self.rows).max() * abs(self.X).max())
            else:
                value = worst(*(_abs_max(self.weight_block(sl)) for sl in blocks(*self.shape)))
            self._cache[param] = value
        return self._cache[param]

    def to_float64(self, param: str) -> np.ndarray:
        """The whole gradient as a float64 array (for reports, not hot paths)."""
        value = self.grads.get(param)
        if value is None:  # W, from its factors
            value = layer.d_weight(self.rows, self.X)
        if isinstance(value, torch.Tensor):
            return value.numpy()
        return value.astype(np.float64)


def reference_grads(inputs: Inputs, placement: str, variant: str | None = None) -> Reference:
    """The correct gradients (or, with ``variant``, what that mistake computes
    exactly) from the inputs as rounded to the case dtype. Always on the CPU."""
    inputs = inputs.on("cpu")
    longdouble = inputs.dtype == torch.float64
    precision = "longdouble" if longdouble else "float64"

    def wide(t):
        return t.numpy().astype(np.longdouble) if longdouble else t.to(torch.float64)

    W, X, g, b, eps = inputs.W, wide(inputs.X), wide(inputs.g), wide(inputs.b), wide(inputs.eps)
    shape = tuple(W.shape)
    with torch.no_grad():
        if variant is not None:  # a bug-zoo variant: rare, formed whole
            grads = gradients.structured_grads(wide(W), X, g, b, eps, placement, variant)
            return Reference(precision, shape, None, X, grads, float("nan"))
        parts = list(blocks(*shape))
        # a = X Wᵀ, a block of W's rows (of a's columns) at a time.
        a_parts = [layer.pre_activation(wide(W[sl]), X) for sl in parts]
        a = np.concatenate(a_parts, axis=1) if longdouble else torch.cat(a_parts, dim=1)
        fw = gradients.Forward(a, layer.scale(a, eps, placement), None)
        fw = gradients.Forward(a, fw.u, layer.output(a, fw.u, g, b))
        rows = gradients.rows(fw, g, eps, placement)
        d = layer.d_output(fw.v)
        dx = sum(layer.d_input(rows[:, sl], wide(W[sl])) for sl in parts)
        grads = {"x": dx, "g": layer.d_gain(d, fw.a, fw.u), "b": layer.d_bias(d)}
        scale = term_scale(fw, rows, X, g, eps, placement)
    return Reference(precision, shape, rows, X, grads, scale)


def term_scale(fw, rows, X, g, eps, placement) -> float:
    """The size of the terms that cancel into dL/dW, before they cancel.

    dL/dW_ij = Σ_t row_ti x_tj with row = (dg − a (a·dg)/D)/u. Bounding each
    term by its magnitude gives p = (|dg| + |a| |a·dg|/D)/u and
    T = Σ_t max_i p_ti · max_j |x_tj| ≥ max_ij Σ_t p_ti |x_tj|.
    κ = T / max|dL/dW| ≥ 1 is the condition of the cancellation: when dg is
    nearly parallel to a, the gradient is small beside its terms, and rounding
    of the terms is large beside the gradient.
    """
    a, u = fw.a, fw.u
    dg = layer.d_output(fw.v) * g
    D = gradients.denominator(a, u, eps, placement, None)
    p = (abs(dg) + abs(a) * abs((a * dg).sum(axis=-1, keepdims=True)) / D) / u
    if isinstance(p, torch.Tensor):
        return float((p.amax(dim=-1) * X.abs().amax(dim=-1)).sum())
    return float((p.max(axis=-1) * np.abs(X).max(axis=-1)).sum())
