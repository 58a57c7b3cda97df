"""Precise arithmetic, for any problem: blocked passes over a large gradient,
max |x| with NaN kept, and double-double (hi + lo) products.

A reference in a wider precision than float64 (numpy ``longdouble``) is
compared a cache-sized block at a time, each block handed over as float64
pairs hi + lo (exact products by Dekker's splitting), so comparing an m×n
gradient runs in vectorised float64 rather than numpy's scalar x87 loops.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "abs_max", "BLOCK_ENTRIES", "block_rows", "blocks", "CACHED_ENDS_BYTES", "dd_weight", "ends",
    "fixed_dot", "fixed_sum", "fixed_sums", "mean_last", "norm2", "split", "SPLITTER",
    "sum_last", "SUM_ROW", "TORCH_GRAIN", "two_product_outer", "WideBlocks", "widened_sub",
    "WIDEN_ENTRIES", "worst"
]

BLOCK_ENTRIES = 1 << 16  # entries of W per block: 512 KiB of float64, cache-sized
# The reference's own two passes (a = X Wᵀ, Rows W) widen W a block at a time and
# make one product per block: 4× bigger blocks (2 MiB of float64, in L3) make the
# float64 reference much faster (docs/benchmarks.md, "Figures behind the code"); the
# comparisons, which make a dozen passes over each block, stay at BLOCK_ENTRIES.
WIDEN_ENTRIES = 1 << 18


def block_rows(n: int, entries: int | None = None) -> int:
    """Rows of W per block: about ``entries`` (default ``BLOCK_ENTRIES``) entries."""
    return max(1, (BLOCK_ENTRIES if entries is None else entries) // max(n, 1))


def blocks(m: int, n: int, entries: int | None = None):
    """Slices of W's rows, ``block_rows(n, entries)`` rows each."""
    step = block_rows(n, entries)
    for start in range(0, m, step):
        yield slice(start, min(start + step, m))


#: A float32 or float64 tensor of at most this many bytes has its ends taken by amin and
#: amax (``ends``): in the caches two passes are about 0.62× one aminmax, which is
#: faster only once the tensor streams from memory (docs/benchmarks.md, "Figures
#: behind the code").
CACHED_ENDS_BYTES = 8 << 20
_SINGLE_OR_DOUBLE = (torch.float32, torch.float64)


def ends(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(min x, max x) as 0-d tensors (NaN both where x has a NaN; x non-empty), by the
    faster of one ``aminmax`` and ``amin`` + ``amax`` for x's dtype and size: the same
    values either way (a minimum does not depend on the order)."""
    if x.dtype in _SINGLE_OR_DOUBLE and x.numel() * x.element_size() <= CACHED_ENDS_BYTES:
        return x.amin(), x.amax()
    low, high = torch.aminmax(x)
    return low, high


def abs_max(x) -> float:
    """max |x| (NaN if x has a NaN; 0 if empty), for torch or numpy."""
    if isinstance(x, torch.Tensor):
        if not x.numel():
            return 0.0
        # Without |x| (``ends``: 2× faster than abs().max(), docs/benchmarks.md,
        # "Figures behind the code"); a NaN makes both ends NaN.
        low, high = (float(v) for v in ends(x))
        return worst(-low, high) + 0.0  # + 0.0: an all-zero x gives 0.0, not -0.0
    return float(np.abs(x).max()) if x.size else 0.0


def widened_sub(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """a − b into ``out`` (b's dtype, the wider one): each entry of a widened exactly,
    then one rounding, the bits type promotion gives. A narrower a is copied into
    ``out`` first and b subtracted in place: torch's mixed-dtype subtraction on the
    CPU casts entry by entry, about 2× slower than the copy and subtraction together
    (docs/benchmarks.md, "Figures behind the code")."""
    if a.dtype == out.dtype:
        return torch.sub(a, b, out=out)
    return out.copy_(a).sub_(b)


def worst(*values: float) -> float:
    """The largest value, NaN if any is NaN (Python's max drops a NaN that is
    not first)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values, default=0.0)


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


#: Entries per row of a fixed-order sum: under torch's parallel grain (32768),
#: so each row is summed by one thread in one order.
SUM_ROW = 8192


def fixed_sum(t: torch.Tensor) -> float:
    """Σ t in an order that does not depend on torch's thread count.

    A plain ``t.sum()`` or ``torch.dot`` of more than 32768 entries splits
    the work by thread, so its last bits change with the thread count (and a
    sweep spread over workers with one thread each would not reproduce a
    serial run). Here every row of 8192 entries is summed by one thread,
    then the row sums in order (``sum_last``: in SUM_ROW parts where they are
    TORCH_GRAIN or more, from 2²⁸ entries).
    """
    t = t.reshape(-1)
    rows = t.numel() // SUM_ROW
    head = sum_last(t[:rows * SUM_ROW].view(rows, SUM_ROW).sum(1)) if rows else 0.0
    return float(head + t[rows * SUM_ROW:].sum())


def fixed_dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """a·b (flattened), thread-count independent (see ``fixed_sum``)."""
    return fixed_sum(a.reshape(-1) * b.reshape(-1))


def fixed_sums(t: torch.Tensor, rows: int) -> torch.Tensor:
    """``fixed_sum`` of every block of ``rows`` rows of every ``t[i]``, in a few calls.

    ``t`` is (q, K, n), each ``t[i]`` contiguous (the first K rows of a larger
    buffer will do); the result is (q, ⌈K/rows⌉) in t's dtype, entry
    [i, j] bit for bit ``fixed_sum(t[i, j·rows:(j+1)·rows])``: each block's
    flattened entries are summed in SUM_ROW-entry rows, the row sums then in
    order, plus the tail, as there. Each output of these reductions is summed on
    one thread in one order, as in fixed_sum (thread-count independent).
    """
    q, K, n = t.shape
    full = K // rows
    parts = [] if not full else [_block_sums(t[:, :full * rows].reshape(q, full, rows * n))]
    if K % rows:
        parts.append(_block_sums(t[:, full * rows:].reshape(q, 1, -1)))
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def _block_sums(t: torch.Tensor) -> torch.Tensor:
    """(q, B, E) → (q, B): ``fixed_sum`` of each t[i, j] (E entries)."""
    head = t.shape[-1] // SUM_ROW * SUM_ROW
    tail = t[..., head:].sum(-1)
    if not head:
        return 0.0 + tail  # fixed_sum's 0.0 + tail (-0.0 becomes 0.0 there too)
    return sum_last(t[..., :head].unflatten(-1, (-1, SUM_ROW)).sum(-1)) + tail


#: torch's parallel grain: a reduction to ONE output over this many entries or more
#: is summed in per-thread parts (a two-pass reduction), so its last bits change
#: with the thread count. A reduction to several outputs is split by output, each
#: output summed on one thread in one order, and does not change.
TORCH_GRAIN = 32768
_HALF = (torch.float16, torch.bfloat16)


def _split_sum(t: torch.Tensor, keepdim: bool) -> torch.Tensor:
    """Σ over the last axis of a single row, as SUM_ROW-entry parts (several outputs,
    one thread each), then the parts in order (``sum_last`` again: as parts of their
    own where they are TORCH_GRAIN or more, from 2²⁸ entries); in float32 for the half
    types (as torch accumulates them), in the dtype otherwise."""
    acc = torch.float32 if t.dtype in _HALF else t.dtype
    full = t.shape[-1] // SUM_ROW * SUM_ROW
    parts = t[..., :full].reshape(*t.shape[:-1], -1, SUM_ROW).sum(-1, dtype=acc)
    return sum_last(parts, keepdim) + t[..., full:].sum(-1, keepdim=keepdim, dtype=acc)


def _one_long_row(t: torch.Tensor) -> bool:
    return t.shape[-1] >= TORCH_GRAIN and t.numel() == t.shape[-1]


def sum_last(t, keepdim: bool = False):
    """Σ over the last axis, the same at any torch thread count (torch or numpy).

    Exactly ``t.sum(-1)`` where torch does not split the sum by thread (several
    rows, or a row under ``TORCH_GRAIN`` entries); a single longer row is summed
    by ``_split_sum`` instead. Differentiable. numpy arrays: ``sum(axis=-1)``.
    """
    if not isinstance(t, torch.Tensor):
        return t.sum(axis=-1, keepdims=keepdim)
    if not _one_long_row(t):
        return t.sum(-1, keepdim=keepdim)
    return _split_sum(t, keepdim).to(t.dtype)


def mean_last(t, keepdim: bool = False):
    """mean over the last axis, the same at any torch thread count (torch or numpy):
    ``t.mean(-1)``, or for a single row of ``TORCH_GRAIN`` entries or more Σ/m
    taken as ``sum_last`` takes Σ (in float32 for the half types, rounded once)."""
    if not isinstance(t, torch.Tensor):
        return t.mean(axis=-1, keepdims=keepdim)
    if not _one_long_row(t):
        return t.mean(-1, keepdim=keepdim)
    return (_split_sum(t, keepdim) / t.shape[-1]).to(t.dtype)


def norm2(x) -> float:
    """‖x‖₂ (Frobenius for a matrix) in float64, for torch or numpy; thread-count
    independent (numpy's pairwise sum runs on one thread)."""
    if isinstance(x, torch.Tensor):
        x = x.to(torch.float64)
        return math.sqrt(fixed_dot(x, x))
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.sum(x * x)))
