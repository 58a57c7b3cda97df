"""Standard normals from a seeded bit stream, by a ziggurat vectorised over the array.

numpy's ``Generator.standard_normal`` runs the ziggurat one entry at a time (about
8 ns an entry here, against 2.2 ns for the 64-bit words alone). ``standard_normal``
takes the same method a block of words at a time: one word per entry, table lookups
and compares over the block, and the few entries the layers' rectangles do not
settle (about 1.5 %) afterwards, together: 4.7 ns an entry here, numpy's 7.4–8.1
(docs/benchmarks.md, "Issue 21's figures with the block ziggurat").

Each entry's 64-bit word w gives (``normal_layers``):

- the layer i = w & 0xFF, the sign s = bit 8 of w, and a 52-bit uniform integer a = w >> 12;
- x = a · X[i]/2⁵², with the sign. Where a < INNER[i], the point lies under the
  density in every height of layer i: x is the draw (the fast path).

The others, in the order of their entries, take more words from the stream in this
order (so the draws are a function of the stream alone, whatever the block size):

1. a word each (the base layer's unused): in the layers i ≥ 1 (the wedges), a height
   y = F[i] + U·(F[i+1] − F[i]) with U = (word >> 11)/2⁵³; x is kept if y < exp(−x²/2);
2. the base layer's entries past R (the tail), in rounds of two words each, U₁ and U₂
   in (0, 1]: t = −ln U₁ / R and e = −ln U₂; R + t (with the sign) is kept if
   2e > t²; the rest go to the next round (Marsaglia's tail method);
3. the wedges' rejected entries, which draw afresh, by this same method.

Exact arithmetic decides every entry but those of the wedge test's exp (numpy's)
and the tail's ln (the C library's, ``math.log``), about 1 entry in 70 and 1 in
4,000: the same seed gives the same bits at any thread count, in any process, and
on any machine whose ``exp`` and ``log`` agree to the last bit (as numpy's own
ziggurat, which calls them too).
"""

from __future__ import annotations

import math

import numpy as np

from gradlab.core.normal_layers import INNER, LAYERS, F, R, X

__all__ = ["BLOCK", "standard_normal"]

#: Entries a step of the fast path takes: its words and half a dozen arrays of
#: them stay in the caches (16 Ki entries were the fastest of 4 Ki to 64 Ki here).
BLOCK = 1 << 14

_SIGNED = 2 * LAYERS  # word & 0x1FF: the layer, and bit 8 the sign
_WIDTH = np.array([x * 2.0**-52 for x in X[:LAYERS]] * 2)
_WIDTH[LAYERS:] *= -1.0
_INNER = np.array(INNER * 2, dtype=np.int64)
_F = np.array(F[:LAYERS])
_STEP = np.array([F[i + 1] - F[i] for i in range(LAYERS)])  # layer i's height
_SHIFT = np.uint64(12)
_TO_UNIT = 2.0**-53


def standard_normal(bits: np.random.BitGenerator, shape) -> np.ndarray:
    """A float64 array of ``shape`` of independent N(0, 1) draws from ``bits``'s words
    (``bits.random_raw``), in C order; the module docstring gives the method."""
    out = np.empty(shape)
    _fill(bits, out.reshape(-1))
    return out


def _fill(bits, out: np.ndarray) -> None:
    """``out`` (1-d float64) filled with normals from ``bits``'s stream."""
    rejected, signed, values = [], [], []
    for start in range(0, out.size, BLOCK):
        part = out[start:start + BLOCK]
        word = bits.random_raw(part.size)
        layer = word.view(np.int64) & (_SIGNED - 1)
        a = (word >> _SHIFT).view(np.int64)
        np.multiply(a, _WIDTH.take(layer), out=part)
        slow = np.flatnonzero(a >= _INNER.take(layer))
        if slow.size:  # kept while the block is in the caches
            rejected.append(slow + start)
            signed.append(layer.take(slow))
            values.append(part.take(slow))
    if rejected:
        _settle(bits, out, *map(np.concatenate, (rejected, signed, values)))


def _settle(bits, out: np.ndarray, at: np.ndarray, signed: np.ndarray,
            x: np.ndarray) -> None:
    """The entries ``at`` that the fast path left, with their layers and signs
    (``signed``) and x: the wedge test, the tail, then fresh draws for the rejected.
    A wedge's kept x is in ``out`` already."""
    layer = signed & (LAYERS - 1)
    height = _F.take(layer) + _unit(bits.random_raw(at.size)) * _STEP.take(layer)
    tail = layer == 0
    again = np.flatnonzero((height >= np.exp(-0.5 * x * x)) & ~tail)
    if tail.any():
        sign = np.where(signed.compress(tail) >= LAYERS, -1.0, 1.0)
        out[at.compress(tail)] = _tail(bits, sign.size) * sign
    if again.size:
        fresh = np.empty(again.size)
        _fill(bits, fresh)
        out[at.take(again)] = fresh


def _unit(word: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1) from 64-bit words: their top 53 bits over 2⁵³."""
    return (word >> np.uint64(11)).astype(np.float64) * _TO_UNIT


def _tail(bits, count: int) -> np.ndarray:
    """``count`` draws of |z| beyond R (Marsaglia's tail method), in rounds of two
    words each (U₁, U₂ in (0, 1]), the rejected going on to the next round."""
    values = np.empty(count)
    todo = np.arange(count)
    while todo.size:
        words = bits.random_raw(2 * todo.size)
        u = (_unit(words) + _TO_UNIT).tolist()  # in (0, 1]: ln is finite
        t = [-math.log(u1) / R for u1 in u[0::2]]
        e = [-math.log(u2) for u2 in u[1::2]]
        kept = np.array([2.0 * ei > ti * ti for ti, ei in zip(t, e)])
        values[todo[kept]] = R + np.array(t)[kept]
        todo = todo[~kept]
    return values
