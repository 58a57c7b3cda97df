"""The reference gradient: the structured formulas in higher precision, on
the same rounded inputs, so that only arithmetic error is measured.

For a float32, bfloat16 or float16 case the reference is float64 (torch).
For a float64 case it is numpy ``longdouble`` where that is wider than float64
(x87 80-bit on x86 Linux, unit roundoff 2⁻⁶⁴), since a float64 reference would
read float64's own error as 0. Where ``longdouble`` is float64 itself (Windows,
macOS arm64) it is double-double instead (gradlab/core/doubledouble.py: float64
pairs hi + lo, about 2⁻¹⁰⁶), the same formulas on another array type.

dL/dW = Rowsᵀ X is m×n, the one large gradient. The reference keeps its two
factors and goes through W in blocks of rows: W is widened a block at a time,
and dL/dW is formed a block at a time while it is compared, so no m×n array is
ever held in the wider precision. A longdouble reference hands its dL/dW
blocks over as float64 pairs hi + lo (a double-double, exact products by
Dekker's splitting), so that comparing an m×n gradient runs in vectorised
float64 rather than numpy's scalar x87 loops; a double-double reference hands
its own over the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from gradlab.core.doubledouble import DD
from gradlab.core.doubledouble import concatenate as dd_concatenate
from gradlab.core.dtypes import dtype_info, dtype_name
from gradlab.core.errors import GradlabError
from gradlab.core.precise import (
    WIDEN_ENTRIES,
    WideBlocks,
    abs_max,
    blocks,
    dd_weight,
    fixed_dot,
    norm2,
    sum_last,
    widened_sub,
    worst,
)
from gradlab.problems.seed import gradients, layer
from gradlab.problems.seed.inputs import Inputs

__all__ = [
    "describe_precision", "FLOAT64_REFERENCE", "longdouble_is_wider", "PreActivation",
    "pre_activation", "Reference", "reference_grads", "sum_scale", "term_scale"
]

LONGDOUBLE, DOUBLE_DOUBLE = "longdouble", "double-double"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def longdouble_is_wider(finfo: np.finfo | None = None) -> bool:
    """Whether numpy's longdouble has more significand bits than float64: 63 stored
    on x86 Linux (x87 80-bit), 112 where it is IEEE quad; on Windows and macOS
    arm64 it is float64 itself (52), and a longdouble reference would be no wider."""
    finfo = np.finfo(np.longdouble) if finfo is None else finfo
    return finfo.nmant > np.finfo(np.float64).nmant


#: How a float64 case's reference is computed on this platform: longdouble where it
#: is wider than float64, else double-double. reference_grads reads it at each call.
FLOAT64_REFERENCE = LONGDOUBLE if longdouble_is_wider() else DOUBLE_DOUBLE


def describe_precision(precision: str) -> str:
    """A reference precision as the check table shows it, with its unit roundoff."""
    if precision == LONGDOUBLE:
        bits = np.finfo(np.longdouble).nmant + 1
        kind = {64: "x87 80-bit", 113: "IEEE quad"}.get(bits, f"{bits}-bit significand")
        return f"longdouble ({kind}, u = 2{f'-{bits}'.translate(_SUPERSCRIPT)})"
    if precision == DOUBLE_DOUBLE:
        return "double-double (float64 hi + lo, u ≈ 2⁻¹⁰⁶)"
    return f"{precision} (u = 2⁻⁵³)" if precision == "float64" else precision


@dataclass(frozen=True)
class Reference:
    """Gradients in the reference precision.

    ``rows`` (batch×m) and ``X`` (batch×n) are the factors of dL/dW = Rowsᵀ X;
    ``grads`` holds x, g and b, and W as well when it was formed whole.
    ``terms`` holds the size of the terms that cancel into dL/dW, per norm
    (``term_scale``; NaN for a bug-zoo variant's reference).
    """

    precision: str
    shape: tuple[int, int]
    rows: object
    X: object
    grads: dict
    terms: dict
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def widen(self, t: torch.Tensor):
        """A tensor of the case dtype, exactly, in the reference precision."""
        if self.precision == "float64":
            return t.cpu().to(torch.float64)
        if self.precision == DOUBLE_DOUBLE:
            return DD(t.cpu().numpy())  # a float64 case: held exactly
        return t.cpu().numpy().astype(np.longdouble)

    def weight_parts(self, sl: slice, out: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rows ``sl`` of dL/dW as float64 tensors: hi alone for a float64
        reference, hi + lo (to about 2⁻¹⁰⁶ relative) for a longdouble one.
        With ``out`` (float64, the block's shape), a float64 reference's block is
        formed in it (the same bits as without)."""
        whole = self.grads.get("W")
        if whole is not None:
            if isinstance(whole, torch.Tensor):
                return whole[sl], None
            if isinstance(whole, DD):
                return torch.from_numpy(whole.hi[sl]), torch.from_numpy(whole.lo_or_zero()[sl])
            hi = whole[sl].astype(np.float64)
            return torch.from_numpy(hi), torch.from_numpy((whole[sl] - hi).astype(np.float64))
        if self.precision == "float64":
            rows = self.rows[:, sl]
            if out is None:
                return layer.d_weight(rows, self.X), None
            if rows.shape[0] == 1:  # one token: row xᵀ
                return torch.outer(rows[0], self.X[0], out=out), None
            return torch.mm(rows.T, self.X, out=out), None
        rows_hi, rows_lo, X = self._pairs()
        return dd_weight(rows_hi[:, sl], rows_lo[:, sl], X)

    def _pairs(self):
        """rows as float64 hi + lo, and X (exact in float64: a float64 input)."""
        if "pairs" not in self._cache:
            if isinstance(self.rows, DD):
                hi, lo, X = self.rows.hi, self.rows.lo_or_zero(), torch.from_numpy(self.X.hi)
            else:
                hi = self.rows.astype(np.float64)
                lo = (self.rows - hi).astype(np.float64)
                X = torch.from_numpy(self.X.astype(np.float64))
            self._cache["pairs"] = (torch.from_numpy(hi), torch.from_numpy(lo), X)
        return self._cache["pairs"]

    @staticmethod
    def deviation(parts, grad_block: torch.Tensor, out: torch.Tensor | None = None
                  ) -> torch.Tensor:
        """grad − (hi + lo) over one block, in float64, as (grad − hi) − lo:
        grad − hi is exact where grad is near the reference (Sterbenz); grad is
        widened exactly first (``precise.widened_sub``)."""
        hi, lo = parts
        if out is None:
            out = torch.empty(hi.shape, dtype=hi.dtype)
        diff = widened_sub(grad_block.cpu(), hi, out)
        if lo is not None:
            diff -= lo
        return diff

    def error(self, param: str, grad: torch.Tensor) -> tuple[float, float]:
        """(max |grad − ref|, ‖grad − ref‖_F), the difference taken in the reference
        precision (NaN when grad has a NaN)."""
        if param != "W":
            dev = self.widen(grad) - self.grads[param]
            return abs_max(dev), norm2(_f64(dev))
        peak, ss = 0.0, 0.0
        for sl in blocks(*self.shape):
            dev = self.deviation(self.weight_parts(sl), grad[sl])
            peak, ss = worst(peak, abs_max(dev)), ss + fixed_dot(dev, dev)
        return peak, math.sqrt(ss)

    def distance(self, other: Reference) -> tuple[float, float]:
        """(max, Frobenius) of dL/dW − other's dL/dW, both exact to the reference
        precision."""
        peak, ss = 0.0, 0.0
        for sl in blocks(*self.shape):
            (hi, lo), (o_hi, o_lo) = self.weight_parts(sl), other.weight_parts(sl)
            diff = hi - o_hi
            for part, sign in ((lo, 1), (o_lo, -1)):
                if part is not None:
                    diff += sign * part
            peak, ss = worst(peak, abs_max(diff)), ss + fixed_dot(diff, diff)
        return peak, math.sqrt(ss)

    @property
    def u(self) -> float:
        """The reference precision's unit roundoff."""
        if self.precision == LONGDOUBLE:
            return float(np.finfo(np.longdouble).eps) / 2
        return 2.0**-106 if self.precision == DOUBLE_DOUBLE else 2.0**-53

    def fro(self, param: str) -> float:
        """‖ref‖_F of ``param``."""
        key = "fro:" + param
        if key not in self._cache:
            if param != "W":
                value = norm2(_f64(self.grads[param]))
            else:
                value = math.sqrt(sum(fixed_dot(hi, hi) for hi, _ in
                                      (self.weight_parts(sl) for sl in blocks(*self.shape))))
            self._cache[key] = value
        return self._cache[key]

    def remember_fro(self, value: float) -> None:
        """‖dL/dW‖_F as a pass over dL/dW found it (``metrics.weight_metrics``)."""
        self._cache.setdefault("fro:W", value)

    def kappa(self, norm: str) -> float:
        """κ_N = T_N / ‖dL/dW‖_N ≥ 1: the terms that cancel into dL/dW over the result
        (``term_scale``), in the max-norm or Frobenius norm; inf for a zero gradient."""
        ref = self.max_abs("W") if norm == "max" else self.fro("W")
        terms = self.terms[norm]
        return terms / ref if ref > 0 else math.inf

    def token_condition(self, norm: str) -> float:
        """K_N = ‖Σ_t |row_t| |x_t|ᵀ‖_N / ‖dL/dW‖_N: how much the tokens' terms
        row_t x_tᵀ cancel in their sum dL/dW, apart from anything inside a term (1 for
        one token; inf for a zero gradient; NaN without rows: a bug-zoo variant).

        The max-norm takes Σ_t max|row_t|·max|x_t| (exact for one token, an upper
        bound for several, as ``term_scale`` takes T_max); the Frobenius norm is exact:
        ‖Σ_t |row_t||x_t|ᵀ‖_F² = Σ_st (|row_s|·|row_t|)(|x_s|·|x_t|)."""
        if self.rows is None:
            return math.nan
        key = "tokens:" + norm
        if key not in self._cache:
            self._cache[key] = self._token_condition(norm)
        return self._cache[key]

    def _token_condition(self, norm: str) -> float:
        ref = self.max_abs("W") if norm == "max" else self.fro("W")
        if not ref > 0:
            return math.inf
        if self.rows.shape[0] == 1:  # no sum: 1 exactly, not 1 within rounding
            return 1.0
        rows, x = _f64(self.rows).abs(), _f64(self.X).abs()
        if norm == "max":
            return float((rows.amax(-1) * x.amax(-1)).sum()) / ref
        return float(((rows @ rows.T) * (x @ x.T)).sum().clamp(min=0).sqrt()) / ref

    @property
    def resolved(self) -> bool:
        """Whether dL/dW stands clear of the reference's own rounding (u_ref·T): a
        gradient that is 0 in exact arithmetic (m = 1 with ε = 0: the layer does not
        depend on W) comes out as 0 or as rounding residue of the reference."""
        return self.max_abs("W") > 64 * self.u * self.terms["max"]

    def max_abs(self, param: str) -> float:
        if param not in self._cache:
            if param != "W":
                value = abs_max(self.grads[param])
            elif "W" not in self.grads and self.rows.shape[0] == 1:
                # One token: dL/dW = row xᵀ, and rounding is monotonic, so
                # max |row_i x_j| is max|row| · max|x|, rounded once.
                value = float(abs(self.rows).max() * abs(self.X).max())
            else:
                value = worst(*(abs_max(self.weight_parts(sl)[0])
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
        if isinstance(value, DD):
            return value.hi  # hi is the value rounded to float64
        return value.astype(np.float64)


def _join(parts):
    """Blocks of a's columns side by side, in their own array type."""
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts, dim=1)
    if isinstance(parts[0], DD):
        return dd_concatenate(parts, axis=1)
    return np.concatenate(parts, axis=1)


def _precision(inputs: Inputs, float64_reference: str | None) -> str:
    """The reference precision for inputs of this dtype (see the module docstring)."""
    if inputs.dtype != torch.float64:
        return "float64"
    precision = FLOAT64_REFERENCE if float64_reference is None else float64_reference
    if precision not in (LONGDOUBLE, DOUBLE_DOUBLE):
        raise GradlabError(f"float64_reference must be {LONGDOUBLE} or {DOUBLE_DOUBLE} "
                           f"(got {precision!r})", "float64_reference")
    return precision


def _widener(precision: str):
    """A case-dtype tensor (on the CPU) in ``precision``, exactly."""
    if precision == DOUBLE_DOUBLE:
        return lambda t: DD(t.numpy())
    if precision == LONGDOUBLE:
        return lambda t: t.numpy().astype(np.longdouble)
    return lambda t: t.to(torch.float64)


def _wide_blocks(W: torch.Tensor, precision: str):
    """(rows, W[rows] widened) for each block of W's rows (``WIDEN_ENTRIES`` a block)."""
    if precision == DOUBLE_DOUBLE:  # W is float64 already: its blocks are views
        return [(sl, DD(W[sl].numpy())) for sl in blocks(*W.shape, WIDEN_ENTRIES)]
    return WideBlocks(W, precision == LONGDOUBLE)


@dataclass(frozen=True)
class PreActivation:
    """The reference's parts that do not depend on ε: a = X Wᵀ in the reference
    precision, and ``sum_scale``'s ‖W_i ⊙ x‖₂ (None where the dtype does not
    accumulate in itself). Each costs a pass over W; a sweep's points that differ
    only in ε share one (``reference_grads(…, pre=…)``)."""

    precision: str
    a: object
    acc: torch.Tensor | None


def pre_activation(inputs: Inputs, float64_reference: str | None = None) -> PreActivation:
    """a = X Wᵀ, a block of W's rows (of a's columns) at a time, and the scale of its
    rounding (``sum_scale``), from the inputs as rounded to the case dtype."""
    inputs = inputs.on("cpu")
    precision = _precision(inputs, float64_reference)
    X = _widener(precision)(inputs.X)
    name = dtype_name(inputs.W.dtype)
    accumulates = dtype_info(name).accumulate == name
    with torch.no_grad():
        if precision == "float64" and accumulates:  # float32: both from one widening
            return PreActivation(precision, *_with_sum_scale(inputs.W, X))
        a = _join([layer.pre_activation(Wb, X) for _, Wb in _wide_blocks(inputs.W, precision)])
        acc = sum_scale(inputs.W, inputs.X) if accumulates else None
    return PreActivation(precision, a, acc)


def _with_sum_scale(W: torch.Tensor, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a = X Wᵀ, ``sum_scale(W, X)``) for a float64 reference (X widened), from one
    widening of each block of W's rows: the same bits as each taken alone, with one
    pass over W fewer (the block's a is taken before it is squared in place)."""
    X2 = X.square()
    a, acc = [], []
    for _, Wb in WideBlocks(W, longdouble=False):
        a.append(layer.pre_activation(Wb, X))
        acc.append(X2 @ Wb.square_().T)
    return torch.cat(a, dim=1), torch.cat(acc, dim=1).sqrt()


def reference_grads(inputs: Inputs, placement: str, variant: str | None = None,
                    float64_reference: str | None = None,
                    params=gradients.PARAMS, pre: PreActivation | None = None) -> Reference:
    """The correct gradients (or, with ``variant``, what that mistake computes
    exactly) from the inputs as rounded to the case dtype. Always on the CPU.

    ``float64_reference``: for a float64 case, "longdouble" or "double-double"
    (default ``FLOAT64_REFERENCE``, this platform's choice). ``params``: the
    gradients to hold besides dL/dW's factors (∂L/∂x costs a pass over W).
    ``pre``: ``pre_activation`` of these inputs, if already taken (ε aside, the
    same inputs): the same bits as taking it here.
    """
    inputs = inputs.on("cpu")
    precision = _precision(inputs, float64_reference)
    wide = _widener(precision)
    W, X, g, b, eps = inputs.W, wide(inputs.X), wide(inputs.g), wide(inputs.b), wide(inputs.eps)
    shape = tuple(W.shape)
    with torch.no_grad():
        if variant is not None:  # a bug-zoo variant: rare, formed whole
            grads = gradients.formula_grads(wide(W), X, g, b, eps, placement, variant)
            nan = float("nan")
            return Reference(precision, shape, None, X, grads, {"max": nan, "fro": nan})
        if pre is None:
            pre = pre_activation(inputs, float64_reference)
        elif pre.precision != precision:
            raise GradlabError(f"pre is in {pre.precision}, not this case's reference "
                               f"precision {precision}", "pre")
        a = pre.a
        u = layer.scale(a, eps, placement)
        fw = gradients.Forward(a, u, layer.output(a, u, g, b))
        rows = gradients.rows(fw, g, eps, placement)
        d = layer.d_output(fw.v)
        grads = {"g": layer.d_gain(d, fw.a, fw.u), "b": layer.d_bias(d)}
        if "x" in params:
            # ∂L/∂x = Rows W, accumulated a block of W's rows at a time.
            dx = 0
            for sl, Wb in _wide_blocks(W, precision):
                dx = dx + layer.d_input(rows[:, sl], Wb)
            grads["x"] = dx
        grads = {p: grads[p] for p in gradients.PARAMS if p in grads and p in params}
        terms = term_scale(fw, rows, X, g, b, eps, placement, pre.acc)
    return Reference(precision, shape, rows, X, grads, terms)


def sum_scale(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """‖W_i ⊙ x‖₂ for every token and row of W, (batch, m), in float64: the scale of
    the rounding error of the length-n sum a_i = Σ_j W_ij x_j (probabilistic)."""
    X2 = X.to(torch.float64).square()
    # each block widened and squared in one reused buffer (``WideBlocks``): the same
    # bits as W[rows].to(float64).square(), without a fresh array per block
    parts = [X2 @ Wb.square_().T for _, Wb in WideBlocks(W, longdouble=False)]
    return torch.cat(parts, dim=1).sqrt()


def _f64(x) -> torch.Tensor:
    """A reference quantity (torch, longdouble or double-double) as float64 torch."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.float64)
    return torch.from_numpy(np.array(x.hi if isinstance(x, DD) else x, dtype=np.float64))


def term_scale(fw, rows, X, g, b, eps, placement, acc=None) -> dict[str, float]:
    """The size of the terms that cancel into dL/dW, before they cancel, per norm.

    First-order error propagation in magnitudes, in units of u (a running error
    analysis after Higham, with the length-n sum taken probabilistically), per
    token, through the backward as the kernels compute it::

        σ_a  = |a| + (u_acc/u)·‖W_i ⊙ x‖₂          a = W x: storage, the length-n sum
        e_u  = (|a|·σ_a)/D + 1                      u from mean(a²) (D = m u² or m r u),
                                                    and u's own rounding
        e_â  = (σ_a + |a| e_u)/u                    â = a/u
        e_dg = 2(|g||â| + |b| + |g| e_â)|g|         dg = 2 v ⊙ g,  v = g ⊙ â + b
        e_c  = |â|·e_dg + e_â·|dg|                  c = â·dg
        e_row = (e_dg + k(e_â|c| + |â| e_c))/u + |row| e_u      row = (dg − k â c)/u

    with k = u²/D, and ∂L/∂W = Σ_t row_t x_tᵀ gives T_ij = Σ_t e_row,ti |x_tj|.
    T_max = Σ_t max_i e_row,ti · max_j |x_tj| ≥ max_ij T_ij and T_fro = ‖T‖_F.
    Every e bounds its quantity's magnitude (e_row ≥ |row|), so κ_N = T_N /
    ‖∂L/∂W‖_N ≥ 1: the condition of the cancellation. It is large when v = g ⊙ â
    + b cancels, when a = W x cancels (float32 and float64, whose sums accumulate
    in their own precision: ``acc`` = ‖W_i ⊙ x‖₂, else None), or when dg is
    nearly parallel to â (the projection).
    """
    a, u, v, row = _f64(fw.a), _f64(fw.u), _f64(fw.v), _f64(rows)
    g, b, x, eps = _f64(g), _f64(b), _f64(X).abs(), _f64(eps)
    D = gradients.denominator(a, u, eps, placement, None)
    k = u**2 / D
    a_hat = a / u
    dg = 2 * v * g
    c = sum_last(a_hat * dg, keepdim=True)
    sigma_a = a.abs() if acc is None else a.abs() + acc
    e_u = sum_last(a.abs() * sigma_a, keepdim=True) / D + 1
    e_a = (sigma_a + a.abs() * e_u) / u
    e_dg = 2 * (g.abs() * a_hat.abs() + b.abs() + g.abs() * e_a) * g.abs()
    e_c = sum_last(a_hat.abs() * e_dg, keepdim=True) + sum_last(e_a * dg.abs(), keepdim=True)
    e_row = (e_dg + k * (e_a * c.abs() + a_hat.abs() * e_c)) / u + row.abs() * e_u
    t_max = float((e_row.amax(-1) * x.amax(-1)).sum())
    t_fro = float(((e_row @ e_row.T) * (x @ x.T)).sum().clamp(min=0).sqrt())
    return {"max": t_max, "fro": t_fro}
