"""The reference gradient: the structured formulas in higher precision, on
the same rounded inputs, so that only arithmetic error is measured.

For a float32, bfloat16 or float16 case the reference is float64 (torch).
For a float64 case it is numpy ``longdouble`` (x87 80-bit, unit roundoff
2⁻⁶⁴), since a float64 reference would read float64's own error as 0.

dL/dW = Rowsᵀ X is m×n, the one large gradient. The reference keeps its two
factors and goes through W in blocks of rows: W is widened a block at a time,
and dL/dW is formed a block at a time while it is compared, so no m×n array is
ever held in the wider precision. A longdouble reference hands its dL/dW
blocks over as float64 pairs hi + lo (a double-double, exact products by
Dekker's splitting), so that comparing an m×n gradient runs in vectorised
float64 rather than numpy's scalar x87 loops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from gradlab import gradients, layer
from gradlab.inputs import Inputs

BLOCK_ENTRIES = 1 << 16  # entries of W per block: 512 KiB of float64, cache-sized
# The reference's own two passes (a = X Wᵀ, Rows W) widen W a block at a time and
# make one product per block: 4× bigger blocks (2 MiB of float64, in L3) halve the
# float64 reference at m = n = 4096 (28 → 13 ms); the comparisons, which make a
# dozen passes over each block, stay at BLOCK_ENTRIES.
WIDEN_ENTRIES = 1 << 18


def block_rows(n: int, entries: int | None = None) -> int:
    """Rows of W per block: about ``entries`` (default ``BLOCK_ENTRIES``) entries."""
    return max(1, (BLOCK_ENTRIES if entries is None else entries) // max(n, 1))


def blocks(m: int, n: int, entries: int | None = None):
    """Slices of W's rows, ``block_rows(n, entries)`` rows each."""
    step = block_rows(n, entries)
    for start in range(0, m, step):
        yield slice(start, min(start + step, m))


def _abs_max(x) -> float:
    """max |x| (NaN if x has a NaN; 0 if empty), for torch or numpy."""
    if isinstance(x, torch.Tensor):
        if not x.numel():
            return 0.0
        # One pass: aminmax is 2× faster than abs().max() (and vector_norm(x, inf)
        # 6× slower) on the CPU; a NaN makes both ends NaN.
        low, high = (float(v) for v in torch.aminmax(x))
        return worst(-low, high)
    return float(np.abs(x).max()) if x.size else 0.0


class Scratch:
    """float64 buffers of one block of W's rows, by name, reused from block to
    block: a fresh 512 KiB tensor each time may be served by mmap and fault in
    its 128 pages (about 1 µs each here), several times the op on it."""

    def __init__(self, n: int):
        self.shape = (block_rows(n), n)
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, rows: int) -> torch.Tensor:
        """The first ``rows`` rows of buffer ``name`` (contents undefined)."""
        if name not in self._buffers:
            self._buffers[name] = torch.empty(self.shape, dtype=torch.float64)
        return self._buffers[name][:rows]


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

    def weight_parts(self, sl: slice, scratch: Scratch | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rows ``sl`` of dL/dW as float64 tensors: hi alone for a float64
        reference, hi + lo (to about 2⁻¹⁰⁶ relative) for a longdouble one.
        With ``scratch``, a float64 reference's block is formed in its buffer."""
        whole = self.grads.get("W")
        if whole is not None:
            if isinstance(whole, torch.Tensor):
                return whole[sl], None
            hi = whole[sl].astype(np.float64)
            return torch.from_numpy(hi), torch.from_numpy((whole[sl] - hi).astype(np.float64))
        if self.precision == "float64":
            rows = self.rows[:, sl]
            if scratch is None:
                return layer.d_weight(rows, self.X), None
            out = scratch.get("ref", rows.shape[1])
            if rows.shape[0] == 1:  # one token: row xᵀ
                return torch.outer(rows[0], self.X[0], out=out), None
            return torch.mm(rows.T, self.X, out=out), None
        rows_hi, rows_lo, X = self._pairs()
        return dd_weight(rows_hi[:, sl], rows_lo[:, sl], X)

    def _pairs(self):
        """rows as float64 hi + lo, and X (exact in float64: a float64 input)."""
        if "pairs" not in self._cache:
            hi = self.rows.astype(np.float64)
            lo = (self.rows - hi).astype(np.float64)
            X = torch.from_numpy(self.X.astype(np.float64))
            self._cache["pairs"] = (torch.from_numpy(hi), torch.from_numpy(lo), X)
        return self._cache["pairs"]

    @staticmethod
    def deviation(parts, grad_block: torch.Tensor, out: torch.Tensor | None = None
                  ) -> torch.Tensor:
        """grad − (hi + lo) over one block, in float64, as (grad − hi) − lo:
        grad − hi is exact where grad is near the reference (Sterbenz), and
        torch widens grad inside the subtraction (no separate copy)."""
        hi, lo = parts
        diff = torch.sub(grad_block.cpu(), hi, out=out)
        if lo is not None:
            diff -= lo
        return diff

    def block_error(self, parts, grad_block: torch.Tensor) -> float:
        """max |grad − ref| over one block."""
        return _abs_max(self.deviation(parts, grad_block))

    def error(self, param: str, grad: torch.Tensor) -> float:
        """max |grad − ref|, the difference taken in the reference precision
        (NaN when grad has a NaN)."""
        if param != "W":
            return _abs_max(self.widen(grad) - self.grads[param])
        return worst(*(self.block_error(self.weight_parts(sl), grad[sl])
                       for sl in blocks(*self.shape)))

    def distance(self, other: Reference) -> float:
        """max |dL/dW − other's dL/dW|, both exact to the reference precision."""
        values = []
        for sl in blocks(*self.shape):
            (hi, lo), (o_hi, o_lo) = self.weight_parts(sl), other.weight_parts(sl)
            diff = hi - o_hi
            for part, sign in ((lo, 1), (o_lo, -1)):
                if part is not None:
                    diff += sign * part
            values.append(_abs_max(diff))
        return worst(*values)

    def max_abs(self, param: str) -> float:
        if param not in self._cache:
            if param != "W":
                value = _abs_max(self.grads[param])
            elif "W" not in self.grads and self.rows.shape[0] == 1:
                # One token: dL/dW = row xᵀ, and rounding is monotonic, so
                # max |row_i x_j| is max|row| · max|x|, rounded once.
                value = float(abs(self.rows).max() * abs(self.X).max())
            else:
                value = worst(*(_abs_max(self.weight_parts(sl)[0])
                                for sl in blocks(*self.shape)))
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


SPLITTER = 2.0**27 + 1  # Dekker: splits a float64 into two 26-bit halves


def split(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a = hi + lo exactly, each half with at most 26 significant bits."""
    c = SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def two_product_outer(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a ⊗ b = p + e exactly (Dekker): p = fl(a ⊗ b), e its rounding error.

    Each product of halves is exact, and so is each step of
    e = ((a_hi b_hi − p) + a_hi b_lo + a_lo b_hi) + a_lo b_lo.
    """
    p = torch.outer(a, b)
    a_hi, a_lo = split(a)
    b_hi, b_lo = split(b)
    e = torch.addr(-p, a_hi, b_hi)
    e = torch.addr(e, a_hi, b_lo)
    e = torch.addr(e, a_lo, b_hi)
    return p, torch.addr(e, a_lo, b_lo)


def dd_weight(rows_hi, rows_lo, X) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_t (row_hi + row_lo)_t ⊗ x_t as a double-double hi + lo.

    Token sums go through Knuth's TwoSum, so hi + lo keeps about 106 bits.
    """
    hi = lo = None
    for t in range(X.shape[0]):
        p, e = two_product_outer(rows_hi[t], X[t])
        e = torch.addr(e, rows_lo[t], X[t])
        if hi is None:
            hi, lo = p, e
            continue
        s = hi + p  # TwoSum: s + err = hi + p exactly
        bb = s - hi
        err = (hi - (s - bb)) + (p - bb)
        hi, lo = s, lo + err + e
    return hi, lo


class WideBlocks:
    """Iterating gives (rows, W[rows] in the reference precision) for each
    block of W's rows, every pass through the same buffer.

    Each block is widened into that buffer, overwritten by the next, so take
    what you need from a block before the next. A fresh block-sized array per
    block may be served by mmap and fault its pages in (whether it is depends
    on glibc's history in the process; a page fault costs about 1 µs on
    this machine kind): in some processes that tripled the widening.
    """

    def __init__(self, W: torch.Tensor, longdouble: bool):
        self.W, self.longdouble = W, longdouble
        self.parts = list(blocks(*W.shape, WIDEN_ENTRIES))
        rows = self.parts[0].stop if self.parts else 0
        if longdouble:
            self.buf = np.empty((rows, W.shape[1]), np.longdouble)
        else:
            self.buf = torch.empty(rows, W.shape[1], dtype=torch.float64)

    def __iter__(self):
        src = self.W.numpy() if self.longdouble else self.W
        for sl in self.parts:
            out = self.buf[:sl.stop - sl.start]
            if self.longdouble:
                np.copyto(out, src[sl])
            else:
                out.copy_(src[sl])
            yield sl, out


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
            grads = gradients.formula_grads(wide(W), X, g, b, eps, placement, variant)
            return Reference(precision, shape, None, X, grads, float("nan"))
        W_wide = WideBlocks(W, longdouble)
        # a = X Wᵀ, a block of W's rows (of a's columns) at a time.
        a_parts = [layer.pre_activation(Wb, X) for _, Wb in W_wide]
        a = np.concatenate(a_parts, axis=1) if longdouble else torch.cat(a_parts, dim=1)
        u = layer.scale(a, eps, placement)
        fw = gradients.Forward(a, u, layer.output(a, u, g, b))
        rows = gradients.rows(fw, g, eps, placement)
        d = layer.d_output(fw.v)
        # ∂L/∂x = Rows W, accumulated a block of W's rows at a time.
        dx = 0
        for sl, Wb in W_wide:
            dx = dx + layer.d_input(rows[:, sl], Wb)
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
