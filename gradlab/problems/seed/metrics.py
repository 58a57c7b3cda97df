"""The seed layer's metrics: dL/dW errors in one blocked pass (both norms), and the
scale residual."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gradlab.core.precise import (
    abs_max,
    block_rows,
    blocks,
    fixed_dot,
    fixed_sums,
    widened_sub,
    worst,
)
from gradlab.core.verdict import Error, make_error
from gradlab.problems.seed.reference import Reference

__all__ = [
    "error", "FUSED_BLOCKS", "nonfinite", "scale_residual", "weight_metrics", "WeightMetrics"
]


def error(reference: Reference, param: str, grad: torch.Tensor, dtype: str) -> Error:
    """``grad``'s error in ``param`` (x, g or b) against the reference, in both norms,
    the difference taken in the reference precision."""
    abs_err, fro_abs = reference.error(param, grad)
    return make_error(abs_err, reference.max_abs(param), dtype, nonfinite(grad, abs_err),
                      fro_abs, reference.fro(param))


def nonfinite(grad: torch.Tensor, abs_err: float) -> int:
    """NaN or ±inf entries of ``grad``: counted only when they made ``abs_err`` non-finite."""
    return 0 if math.isfinite(abs_err) else int((~torch.isfinite(grad)).sum())


@dataclass(frozen=True)
class WeightMetrics:
    """What one pass over dL/dW gives for every method (keyed by method): max|G − ref|,
    ‖G − ref‖_F, max |G − G_autograd|, the scale residual; and ‖ref‖_F."""

    abs_err: dict
    fro_abs: dict
    max_abs_diff: dict
    residual: dict
    ref_fro: float

    def error(self, name: str, reference: Reference, grad: torch.Tensor, dtype: str) -> Error:
        """Method ``name``'s dL/dW error in both norms."""
        abs_err = self.abs_err[name]
        return make_error(abs_err, reference.max_abs("W"), dtype, nonfinite(grad, abs_err),
                          self.fro_abs[name], self.ref_fro)


#: Blocks of W's rows (``precise.blocks``) that ``weight_metrics`` takes in one step.
#: More blocks a step means fewer ops but a working set past the caches: at
#: m = n = 2048 two blocks a step (about 10 arrays of 1 MiB) were the fastest of 1,
#: 2, 4 and 8 (docs/benchmarks.md, "One seed-layer check against a bare autograd").
FUSED_BLOCKS = 2


def weight_metrics(reference: Reference, W: torch.Tensor, grads: dict,
                   residual: bool) -> WeightMetrics:
    """Each method's dL/dW error against the reference (max and Frobenius), its
    max |Δ| against autograd and (if ``residual``) its scale residual, in one pass
    over W's rows, ``FUSED_BLOCKS`` blocks a step.

    Per block it takes the sums that ``Reference.error`` and ``scale_residual``
    take, in their order, bit for bit: Σ ref², Σ (G − ref)² per method and, with
    the residual, Σ W², Σ G² and Σ G·W per method, each a ``precise.fixed_sum``
    of the block's products, added block after block. A step stacks its float64
    rows (ref, G − ref per method, W, each G), takes the maxima, then forms every
    product in two ops (G·W, and the rows squared in place) and sums them in two
    reductions (``precise.fixed_sums``): about 10 block-sized arrays, where a sum
    at a time made a product array of its own. max |G − ref| and
    max |(G − ref) − (G_autograd − ref)| are taken a step at a time (a maximum
    does not depend on the grouping). Thread-count independent.
    """
    names = list(grads)
    step = block_rows(W.shape[1])
    work = _Work(len(names), W.shape[1], residual, min(W.shape[0], step * FUSED_BLOCKS))
    sums = [0.0] * work.quantities
    err = dict.fromkeys(names, 0.0)
    diff = {name: 0.0 for name in names if name != "autograd"}
    for sl in _steps(W.shape[0], step * FUSED_BLOCKS):
        k = sl.stop - sl.start
        work.fill(reference, W, list(grads.values()), sl, step)
        dev = dict(zip(names, work.devs(k)))
        for name in names:
            err[name] = worst(err[name], abs_max(dev[name]))
        for name in diff:
            # (G − ref) − (G_autograd − ref): exact where both are near the reference
            delta = torch.sub(dev[name], dev["autograd"], out=work.delta[:k])
            diff[name] = worst(diff[name], abs_max(delta))
        per_block = [row for part in work.products(k) for row in fixed_sums(part, step).tolist()]
        for i, values in enumerate(per_block):
            for value in values:  # block after block, as a blocked pass adds them
                sums[i] += value
    at = work.index
    fro = {name: math.sqrt(sums[at("dev", j)]) for j, name in enumerate(names)}
    res = {name: _cosine(sums[at("GW", j)], sums[at("G", j)], sums[at("W")])
           if residual else None for j, name in enumerate(names)}
    reference.remember_fro(math.sqrt(sums[at("ref")]))
    return WeightMetrics(err, fro, diff, res, reference.fro("W"))


def _steps(m: int, rows: int):
    """Slices of ``rows`` of W's rows (the last one shorter)."""
    for start in range(0, m, rows):
        yield slice(start, min(start + rows, m))


class _Work:
    """The float64 buffers of one step of ``weight_metrics``, reused step after step,
    in one numpy array: numpy backs a large array with transparent huge pages, where
    a fresh torch tensor of some MiB may fault its 4 KiB pages in one at a time
    (about 2.7 µs each here).

    ``rows`` stacks, for c methods: ref, G − ref per method and, with the residual,
    W and each G (widened: exact); ``cross`` holds G·W per method, and ``products``
    squares ``rows`` in place.
    """

    def __init__(self, count: int, n: int, residual: bool, rows: int):
        self.count, self.residual = count, residual
        self.stacked = 1 + count + ((1 + count) if residual else 0)
        self.quantities = self.stacked + (count if residual else 0)
        crosses = self.quantities - self.stacked
        # the stacked rows, the products G·W, lo, delta
        arena = torch.from_numpy(np.empty((self.quantities + 2, rows, n)))
        self.rows, self.cross = arena[:self.stacked], arena[self.stacked:self.stacked + crosses]
        self.lo, self.delta = arena[-2], arena[-1]

    def index(self, what: str, j: int = 0) -> int:
        """Where a quantity's sums are: ref, dev (method j), W, G (method j) and GW
        (method j) — the squares in ``rows``' order, then the products G·W."""
        c = self.count
        return {"ref": 0, "dev": 1 + j, "W": 1 + c, "G": 2 + c + j,
                "GW": self.stacked + j}[what]

    def devs(self, k: int) -> list[torch.Tensor]:
        """G − ref of each method over the step's first ``k`` rows (until ``products``)."""
        return [self.rows[1 + j, :k] for j in range(self.count)]

    def fill(self, reference: Reference, W: torch.Tensor, grads: list, sl: slice,
             step: int) -> None:
        """The step's stacked rows: ref, G − ref per method, then W and each G."""
        k, c = sl.stop - sl.start, self.count
        rows = self.rows[:, :k]
        hi, lo = rows[0], self._reference(reference, sl, step)
        if self.residual:  # W and each G widened once, for every product
            rows[1 + c].copy_(W[sl])
            for j, G in enumerate(grads):
                rows[2 + c + j].copy_(G[sl])
        for j, G in enumerate(grads):
            # grad − hi exact where grad is near the reference (Sterbenz), as
            # Reference.deviation takes it; a float64 copy of G gives the same bits
            dev = widened_sub(rows[2 + c + j] if self.residual else G[sl].cpu(), hi,
                              rows[1 + j])
            if lo is not None:
                dev -= lo

    def products(self, k: int) -> tuple[torch.Tensor, ...]:
        """The step's products over its first ``k`` rows: G·W per method, then the
        stacked rows squared in place (so ``devs`` are gone); squares first."""
        rows, c = self.rows[:, :k], self.count
        if not self.residual:
            return (rows.mul_(rows),)
        cross = torch.mul(rows[2 + c:], rows[1 + c], out=self.cross[:, :k])
        return rows.mul_(rows), cross

    def _reference(self, reference: Reference, sl: slice, step: int) -> torch.Tensor | None:
        """The reference's rows ``sl`` into ``rows[0]`` (and ``lo``), block by block
        as ``Reference.error`` forms them; lo, or None for a float64 reference."""
        lo = None
        for start in range(sl.start, sl.stop, step):
            block = slice(start, min(start + step, sl.stop))
            at = slice(block.start - sl.start, block.stop - sl.start)
            out = self.rows[0, at]
            part_hi, part_lo = reference.weight_parts(block, out=out)
            if part_hi.data_ptr() != out.data_ptr():
                out.copy_(part_hi)
            if part_lo is not None:
                lo = self.lo[:sl.stop - sl.start]
                lo[at].copy_(part_lo)
        return lo


def scale_residual(grad: torch.Tensor, W: torch.Tensor) -> float:
    """⟨dL/dW, W⟩ / (‖dL/dW‖ ‖W‖).

    With ε = 0, L(cW) = L(W) for every c > 0 (a and u scale together), so
    d/dc L(cW) at c = 1, which is ⟨dL/dW, W⟩, is 0: the residual is rounding.
    """
    dot = gg = ww = 0.0
    for sl in blocks(*W.shape):  # in float64, a cache-sized block at a time
        G, Wb = grad[sl].double().flatten(), W[sl].double().flatten()
        dot += fixed_dot(G, Wb)
        gg += fixed_dot(G, G)
        ww += fixed_dot(Wb, Wb)
    return _cosine(dot, gg, ww)


def _cosine(dot: float, gg: float, ww: float) -> float:
    """dot/√(gg·ww): 0 for a zero gradient, NaN for a non-finite one."""
    norm = math.sqrt(gg * ww)
    if math.isnan(norm) or math.isnan(dot):
        return math.nan
    return dot / norm if norm > 0 else 0.0
