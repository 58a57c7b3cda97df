r"""Double-double arrays: a value held as an unevaluated sum hi + lo of two float64
numpy arrays, about 106 significant bits (unit roundoff about 2⁻¹⁰⁶).

The reference of a float64 case needs more precision than float64. numpy's
``longdouble`` gives it where it is the x87 80-bit format (x86 Linux), but on
Windows and macOS arm64 it is float64 itself. ``DD`` is the portable fallback:
it supports exactly the operations the layer formulas use (gradlab/problems/seed/
layer.py), so the same formulas run on it:

    +, −, ×, / (DD, float64 arrays or Python numbers; numpy broadcasting),
    x**2, sqrt, abs, sum / mean / max over an axis (keepdims), .T, reshape,
    indexing, and matmul through layer.matmul (``A @ B``).

Error-free transformations (Knuth's TwoSum, Dekker's TwoProduct with Veltkamp's
splitting) make each sum and product exact before its low part is rounded; a
sum over an axis or a matrix product adds pairwise, carrying the low parts, so
its error is about 2⁻¹⁰⁶ of the sum of |terms| (Ogita, Rump and Oishi's Dot2),
not n·2⁻⁵³. ``lo`` is None where it is known to be 0 (a float64 input, held
exactly), which skips the work on it.

The exponent range is float64's: Dekker's splitting needs |x| < 2⁹⁹⁶, and a
value below about 2⁻⁹⁶⁹ (1e-292) keeps fewer than 106 bits, since its lo part is
subnormal; a square under 2⁻¹⁰⁷⁴ is 0. (x87 longdouble reaches 1e-4951.) ±inf
and NaN are kept in hi, with lo = 0, and raise no numpy warning: a non-finite
reference is reported by the check, not warned about.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "as_dd", "concatenate", "DD", "matmul", "MATMUL_CHUNK", "split", "SPLITTER", "two_product",
    "two_sum"
]

SPLITTER = 2.0**27 + 1  # Veltkamp: splits a float64 into two halves of 26 bits
#: Products a matmul forms at once (a chunk of rows): 2 MiB of float64 each.
MATMUL_CHUNK = 1 << 18


def two_sum(a, b):
    """a + b = s + e exactly (Knuth), for any a, b."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def split(a):
    """a = hi + lo exactly, each half with at most 26 significant bits."""
    c = SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def two_product(a, b, a_split=None, b_split=None):
    """a × b = p + e exactly (Dekker), broadcasting; pass ``split`` halves to reuse them."""
    p = a * b
    a_hi, a_lo = split(a) if a_split is None else a_split
    b_hi, b_lo = split(b) if b_split is None else b_split
    e = a_hi * b_hi - p
    e += a_hi * b_lo
    e += a_lo * b_hi
    e += a_lo * b_lo
    return p, e


def _quiet(fn):
    """``fn`` with numpy's floating-point warnings off: inf and NaN propagate."""
    @functools.wraps(fn)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return quiet


def _binary(method):
    """An operator whose other operand is made a DD first (NotImplemented for a type
    DD does not mix with), with numpy's floating-point warnings off."""
    @functools.wraps(method)
    def operator(self, other):
        other = as_dd(other)
        if other is NotImplemented:
            return NotImplemented
        with np.errstate(all="ignore"):
            return method(self, other)
    return operator


def _renormalize(s, e):
    """(s, e) → (hi, lo) with hi = fl(s + e); a non-finite s stays as it is."""
    finite = np.isfinite(s)
    e = np.where(finite, e, 0.0)
    hi = s + e
    return hi, np.where(finite, e - (hi - s), 0.0)


def _add_lo(a, b):
    """a + b where either may be None (0)."""
    if a is None:
        return b
    return a if b is None else a + b


class DD:
    """An array of double-double numbers hi + lo, |lo| ≤ ulp(hi)/2.

    ``DD(x)`` holds a float64 array (or number) exactly, with lo = None (0).
    Mixed with a float64 array or a Python number, the other operand is held
    exactly too (an int beyond 2⁵³ is rounded to float64 first).
    """

    __slots__ = ("hi", "lo")
    __array_priority__ = 1000

    def __init__(self, hi, lo=None):
        self.hi = np.asarray(hi, dtype=np.float64)
        self.lo = None if lo is None else np.asarray(lo, dtype=np.float64)
        if self.lo is not None and self.lo.shape != self.hi.shape:
            raise ValueError(f"hi and lo differ in shape: {self.hi.shape} and {self.lo.shape}")

    # ---------------------------------------------------------------- shape

    @property
    def shape(self) -> tuple[int, ...]:
        return self.hi.shape

    @property
    def ndim(self) -> int:
        return self.hi.ndim

    @property
    def size(self) -> int:
        return self.hi.size

    def _map(self, fn) -> DD:
        """The same numbers rearranged by ``fn`` (a view: .T, reshape, an index)."""
        return DD(fn(self.hi), None if self.lo is None else fn(self.lo))

    @property
    def T(self) -> DD:
        return self._map(lambda x: x.T)

    def reshape(self, *shape) -> DD:
        return self._map(lambda x: x.reshape(*shape))

    def __getitem__(self, index) -> DD:
        return self._map(lambda x: x[index])

    def lo_or_zero(self) -> np.ndarray:
        """lo as an array (zeros where it is None)."""
        return np.zeros_like(self.hi) if self.lo is None else self.lo

    def __float__(self) -> float:
        """A one-element array as a Python float: hi, the value rounded to float64."""
        return float(self.hi.reshape(-1)[0]) if self.size == 1 else float(self.hi)

    def __repr__(self) -> str:
        return f"DD(hi={self.hi!r}, lo={self.lo!r})"

    # ----------------------------------------------------------- arithmetic

    def __neg__(self) -> DD:
        return DD(-self.hi, None if self.lo is None else -self.lo)

    def __abs__(self) -> DD:
        negative = self.hi < 0
        return DD(np.where(negative, -self.hi, self.hi),
                  None if self.lo is None else np.where(negative, -self.lo, self.lo))

    @_binary
    def __add__(self, b: DD) -> DD:
        s, e = two_sum(self.hi, b.hi)
        lo = _add_lo(self.lo, b.lo)
        return DD(*_renormalize(s, e if lo is None else e + lo))

    __radd__ = __add__

    @_binary
    def __sub__(self, b: DD) -> DD:
        return self + (-b)

    @_binary
    def __rsub__(self, a: DD) -> DD:
        return a + (-self)

    @_binary
    def __mul__(self, b: DD) -> DD:
        p, e = two_product(self.hi, b.hi)
        if self.lo is not None:
            e = e + self.lo * b.hi
        if b.lo is not None:
            e = e + self.hi * b.lo
        return DD(*_renormalize(p, e))

    __rmul__ = __mul__

    @_binary
    def __truediv__(self, b: DD) -> DD:
        return _divide(self, b)

    @_binary
    def __rtruediv__(self, a: DD) -> DD:
        return _divide(a, self)

    def __pow__(self, power) -> DD:
        if power != 2:
            return NotImplemented
        return self * self

    @_quiet
    def sqrt(self) -> DD:
        """√x: one Newton step from the float64 root, q + (x − q²)/(2q); √0 = 0."""
        q = np.sqrt(self.hi)
        p, e = two_product(q, q)
        r = (self.hi - p) - e
        if self.lo is not None:
            r = r + self.lo
        r = np.where(q > 0, r / (2 * q), 0.0)
        return DD(*_renormalize(q, r))

    @_binary
    def __matmul__(self, b: DD) -> DD:
        return matmul(self, b)

    @_binary
    def __rmatmul__(self, a: DD) -> DD:
        return matmul(a, self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """numpy's ufuncs on a DD: the ones the formulas use, mapped to its operators."""
        ops = {np.add: lambda a, b: a + b, np.subtract: lambda a, b: a - b,
               np.multiply: lambda a, b: a * b, np.true_divide: lambda a, b: a / b,
               np.negative: lambda a: -a, np.absolute: abs, np.sqrt: lambda a: a.sqrt(),
               np.matmul: lambda a, b: as_dd(a) @ b}
        if method != "__call__" or kwargs or ufunc not in ops:
            return NotImplemented
        args = [x if isinstance(x, DD) else as_dd(x) for x in inputs]
        return ops[ufunc](*args)

    # ------------------------------------------------------------ reductions

    @_quiet
    def sum(self, axis=None, keepdims: bool = False) -> DD:
        """Σ over ``axis`` (all when None), pairwise, carrying the low parts."""
        hi, lo = self.hi, self.lo_or_zero()
        if axis is None:
            hi, lo, axis = hi.reshape(-1), lo.reshape(-1), 0
        axis = axis % hi.ndim
        hi, lo = _pairwise(np.moveaxis(hi, axis, 0), np.moveaxis(lo, axis, 0))
        out = DD(*_renormalize(hi, lo))
        if keepdims:
            return out._map(lambda x: np.expand_dims(x, axis))
        return out

    def mean(self, axis=None, keepdims: bool = False) -> DD:
        count = self.size if axis is None else self.shape[axis]
        return self.sum(axis, keepdims) / count

    @_quiet
    def max(self, axis=None, keepdims: bool = False) -> DD:
        """The largest element over ``axis`` (NaN if any is NaN), ordered by hi then lo."""
        hi = self.hi.max(axis=axis, keepdims=True)
        if self.lo is None:
            lo = None
        else:
            lo = np.where(self.hi == hi, self.lo, -np.inf).max(axis=axis, keepdims=True)
            lo = np.where(np.isfinite(lo), lo, 0.0)
        out = DD(hi, lo)
        if keepdims:
            return out
        if axis is None:
            return out.reshape(())
        return out._map(lambda x: np.squeeze(x, axis=axis))


def as_dd(x):
    """``x`` as a DD (held exactly where it is float64), or NotImplemented for a type
    DD does not mix with (a torch tensor, say)."""
    if isinstance(x, DD):
        return x
    if isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool):
        return DD(float(x))
    if isinstance(x, np.ndarray) and x.dtype.kind in "fiu":
        if x.dtype.itemsize > 8 and x.dtype.kind == "f":
            hi = x.astype(np.float64)
            return DD(hi, (x - hi).astype(np.float64))
        return DD(x)
    return NotImplemented


def concatenate(parts, axis: int = 0) -> DD:
    """DDs joined along ``axis``."""
    hi = np.concatenate([p.hi for p in parts], axis=axis)
    if all(p.lo is None for p in parts):
        return DD(hi)
    return DD(hi, np.concatenate([p.lo_or_zero() for p in parts], axis=axis))


def _pairwise(hi, lo):
    """Σ over axis 0 of hi + lo, adding halves pairwise (TwoSum on hi, the low parts
    and the errors carried in lo); the result is not renormalized."""
    while hi.shape[0] > 1:
        half = hi.shape[0] // 2
        s, e = two_sum(hi[:half], hi[half:2 * half])
        e += lo[:half]
        e += lo[half:2 * half]
        if hi.shape[0] % 2:
            s = np.concatenate([s, hi[2 * half:]])
            e = np.concatenate([e, lo[2 * half:]])
        hi, lo = s, e
    if hi.shape[0] == 0:
        return np.zeros(hi.shape[1:]), np.zeros(hi.shape[1:])
    return hi[0], lo[0]


@_quiet
def _divide(a: DD, b: DD) -> DD:
    """a / b: q = fl(a_hi / b_hi), then the remainder a − q·b (exact by TwoProduct)
    gives the correction (a − q·b)/b_hi."""
    q = a.hi / b.hi
    p, e = two_product(q, b.hi)
    if b.lo is not None:
        e = e + q * b.lo
    s, f = two_sum(a.hi, -p)
    f = f - e
    if a.lo is not None:
        f = f + a.lo
    r = (s + f) / b.hi
    return DD(*_renormalize(q, r))


@_quiet
def matmul(a: DD, b: DD) -> DD:
    """A B for 2-d DDs: every product exact (TwoProduct, the halves of each factor
    split once), summed pairwise over the inner axis, a chunk of A's rows at a time."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul needs (p, k) @ (k, q) (got {a.shape} @ {b.shape})")
    p, k = a.shape
    q = b.shape[1]
    at_hi = np.ascontiguousarray(a.hi.T)                       # (k, p)
    at_lo = None if a.lo is None else np.ascontiguousarray(a.lo.T)
    b_hi = np.ascontiguousarray(b.hi)
    at_split, b_split = split(at_hi), split(b_hi)
    rows = max(1, MATMUL_CHUNK // max(1, k * q))
    his, los = [], []
    for start in range(0, p, rows):
        sl = slice(start, min(start + rows, p))
        x = at_hi[:, sl, None]                                 # (k, r, 1)
        x_split = tuple(h[:, sl, None] for h in at_split)
        y, y_split = b_hi[:, None, :], tuple(h[:, None, :] for h in b_split)  # (k, 1, q)
        prod, err = two_product(x, y, x_split, y_split)      # (k, r, q)
        if at_lo is not None:
            err += at_lo[:, sl, None] * y
        if b.lo is not None:
            err += x * b.lo[:, None, :]
        hi, lo = _pairwise(prod, err)
        his.append(hi)
        los.append(lo)
    if p == 0:
        return DD(np.zeros((0, q)))
    return DD(*_renormalize(np.concatenate(his), np.concatenate(los)))
