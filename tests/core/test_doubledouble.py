"""Double-double arrays against exact rational arithmetic (fractions.Fraction)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab.core.doubledouble
from gradlab.core.doubledouble import DD, as_dd, concatenate, two_product, two_sum

#: Relative error allowed of one operation: double-double keeps about 2⁻¹⁰⁶.
REL = 2.0**-100


def exact(x: DD) -> list[Fraction]:
    """Every entry of ``x`` as the exact rational hi + lo."""
    return [Fraction(float(h)) + Fraction(float(lo))
            for h, lo in zip(x.hi.ravel(), x.lo_or_zero().ravel())]


def dd_from(value: Fraction) -> DD:
    """A DD whose hi + lo is ``value`` rounded to about 106 bits (lo may be non-zero)."""
    hi = float(value)
    return DD(np.array([hi]), np.array([float(value - Fraction(hi))]))


def assert_close(got: DD, want: list[Fraction], scale: list[Fraction] | None = None):
    """|got − want| ≤ REL · scale, entry by entry (scale defaults to |want|)."""
    scale = [abs(w) for w in want] if scale is None else scale
    for g, w, s in zip(exact(got), want, scale, strict=True):
        assert abs(g - w) <= REL * s, (float(g), float(w), float(abs(g - w) / s))


def assert_normalized(x: DD) -> None:
    """hi is hi + lo rounded to float64: |lo| ≤ ulp(hi)/2."""
    lo = x.lo_or_zero()
    assert np.all(np.abs(lo) <= np.spacing(np.abs(x.hi)) / 2)


# Magnitudes from 1e-50: double-double has float64's exponent range, and its low
# parts underflow below about 1e-292 (see gradlab/core/doubledouble.py).
finite = st.one_of(st.just(0.0), st.floats(1e-50, 1e6), st.floats(-1e6, -1e-50))
nonzero = finite.filter(lambda v: abs(v) > 1e-6)
positive = st.floats(min_value=1e-6, max_value=1e6)


def with_tail(x: float, tail: float) -> Fraction:
    """x plus a tail below its last bit: a value that float64 cannot hold."""
    return Fraction(x) + Fraction(tail) * Fraction(math.ulp(x)) / 4 if x else Fraction(0)


@given(finite, finite)
def test_two_sum_and_two_product_are_exact(a, b):
    s, e = two_sum(np.float64(a), np.float64(b))
    assert Fraction(float(s)) + Fraction(float(e)) == Fraction(a) + Fraction(b)
    p, e = two_product(np.float64(a), np.float64(b))
    assert Fraction(float(p)) + Fraction(float(e)) == Fraction(a) * Fraction(b)


@settings(max_examples=200)
@given(finite, finite, st.floats(-1, 1), st.floats(-1, 1))
def test_add_sub_mul(a, b, ta, tb):
    x, y = with_tail(a, ta), with_tail(b, tb)
    dx, dy = dd_from(x), dd_from(y)
    x, y = exact(dx)[0], exact(dy)[0]
    size = [abs(x) + abs(y)]
    assert_close(dx + dy, [x + y], size)
    assert_close(dx - dy, [x - y], size)
    assert_close(dx * dy, [x * y])
    for result in (dx + dy, dx - dy, dx * dy):
        assert_normalized(result)


@settings(max_examples=200)
@given(finite, nonzero, st.floats(-1, 1), st.floats(-1, 1))
def test_div(a, b, ta, tb):
    dx, dy = dd_from(with_tail(a, ta)), dd_from(with_tail(b, tb))
    x, y = exact(dx)[0], exact(dy)[0]
    assert_close(dx / dy, [x / y])
    assert_normalized(dx / dy)


@settings(max_examples=200)
@given(positive, st.floats(-1, 1))
def test_sqrt(a, ta):
    dx = dd_from(with_tail(a, ta))
    x = exact(dx)[0]
    root = dx.sqrt()
    r = exact(root)[0]
    # |r − √x| ≈ |r² − x| / (2√x)
    assert abs(r * r - x) <= REL * x
    assert_normalized(root)


def test_python_numbers_and_float64_arrays_mix_on_either_side():
    x = DD(np.array([3.0, 5.0]), np.array([2.0**-60, -(2.0**-58)]))
    want = exact(x)
    arr = np.array([2.0, 4.0])
    cases = {
        "2 * x": (2 * x, [2 * w for w in want]),
        "x * 2": (x * 2, [2 * w for w in want]),
        "1 / x": (1 / x, [1 / w for w in want]),
        "x - 1": (x - 1, [w - 1 for w in want]),
        "1 - x": (1 - x, [1 - w for w in want]),
        "arr + x": (arr + x, [Fraction(2) + want[0], Fraction(4) + want[1]]),
        "x / arr": (x / arr, [want[0] / 2, want[1] / 4]),
        "arr * x": (arr * x, [2 * want[0], 4 * want[1]]),
        "x**2": (x**2, [w * w for w in want]),
        "-x": (-x, [-w for w in want]),
        "np.abs(-x)": (np.abs(-x), want),
        "np.sqrt(x)": (np.sqrt(x), [exact(x[i:i + 1].sqrt())[0] for i in range(2)]),
    }
    for name, (got, expected) in cases.items():
        assert isinstance(got, DD), name
        assert_close(got, expected)


def test_a_type_it_does_not_know_is_refused():
    with pytest.raises(TypeError):
        DD(np.ones(2)) + "2"
    with pytest.raises(TypeError):
        DD(np.ones(2)) ** 3


def test_longdouble_is_split_into_hi_and_lo_exactly():
    x = np.array([1, 3], dtype=np.longdouble) / 7
    d = as_dd(x)
    for got, value in zip(exact(d), x):
        p, q = value.as_integer_ratio()
        assert got == Fraction(p, q)


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.integers(0, 2**31))
def test_sum_is_pairwise_and_accurate(values, seed):
    """The sum carries low parts: its error is about 2⁻¹⁰⁶ of Σ|x|, not n·2⁻⁵³."""
    rng = np.random.default_rng(seed)
    hi = np.array(values)
    lo = hi * rng.uniform(-1, 1, hi.shape) * 2.0**-54
    x = DD(hi, lo)
    terms = exact(x)
    total = x.sum()
    assert total.shape == ()
    assert_close(total.reshape(1), [sum(terms)], [sum(abs(t) for t in terms)])


def test_sum_cancels_exactly_where_float64_loses_everything():
    x = DD(np.array([1e16, 1.0, -1e16, 1.0]))
    assert float(np.array([1e16, 1.0, -1e16, 1.0]).sum()) != 2.0
    assert exact(x.sum().reshape(1)) == [Fraction(2)]


@pytest.mark.parametrize("axis", [0, 1, -1], ids=lambda a: f"axis{a}")
@pytest.mark.parametrize("keepdims", [False, True], ids=["dropped", "kept"])
def test_sum_mean_max_over_an_axis(axis, keepdims):
    rng = np.random.default_rng(1)
    hi = rng.standard_normal((3, 5))
    x = DD(hi, hi * 2.0**-60)
    rows = np.moveaxis(np.arange(15).reshape(3, 5), axis, -1)
    terms = exact(x)
    shape = np.sum(hi, axis=axis, keepdims=keepdims).shape
    for op, combine in (("sum", sum), ("mean", lambda t: sum(t) / len(t)), ("max", max)):
        got = getattr(x, op)(axis=axis, keepdims=keepdims)
        assert got.shape == shape, op
        want = [combine([terms[i] for i in idx]) for idx in rows.reshape(-1, rows.shape[-1])]
        assert_close(got.reshape(-1), want, [Fraction(100)] * len(want))
    assert float(x.max()) == hi.max()


def test_max_orders_equal_his_by_lo_and_keeps_nan():
    x = DD(np.array([1.0, 1.0, 0.5]), np.array([2.0**-60, 2.0**-58, 0.0]))
    top = x.max()
    assert float(top.hi) == 1.0 and float(top.lo) == 2.0**-58
    nan = DD(np.array([1.0, np.nan]))
    assert math.isnan(float(nan.max()))


def test_inf_and_nan_propagate_without_warnings():
    with np.errstate(all="raise"):  # any numpy warning would raise here
        inf = 1 / DD(np.array([0.0, 2.0]))
        assert np.isinf(inf.hi[0]) and inf.lo_or_zero()[0] == 0 and inf.hi[1] == 0.5
        assert np.isnan((DD(np.array([0.0])) / DD(np.array([0.0]))).hi[0])
        assert float(DD(np.array(0.0)).sqrt()) == 0.0
        assert np.isinf((inf * 3).hi[0])


@pytest.mark.parametrize("with_lo", [False, True], ids=["exact-float64", "with-lo"])
@pytest.mark.parametrize("shape", [(1, 7, 4), (3, 5, 6), (6, 1, 5), (4, 9, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_matmul_in_chunks_is_the_exact_product(shape, with_lo, monkeypatch):
    monkeypatch.setattr(gradlab.core.doubledouble, "MATMUL_CHUNK", 10)  # a few rows a chunk
    p, k, q = shape
    rng = np.random.default_rng(sum(shape))
    a_hi, b_hi = rng.standard_normal((p, k)), rng.standard_normal((k, q))
    a = DD(a_hi, a_hi * 2.0**-57 if with_lo else None)
    b = DD(b_hi, b_hi * -(2.0**-56) if with_lo else None)
    got = a @ b
    assert got.shape == (p, q)
    A = np.array(exact(a), dtype=object).reshape(p, k)
    B = np.array(exact(b), dtype=object).reshape(k, q)
    want = [sum(A[i, t] * B[t, j] for t in range(k)) for i in range(p) for j in range(q)]
    size = [sum(abs(A[i, t] * B[t, j]) for t in range(k)) for i in range(p) for j in range(q)]
    assert_close(got, want, size)
    assert_normalized(got)


def test_views_and_concatenate_keep_both_parts():
    x = DD(np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3) * 2.0**-60)
    assert exact(x.T) == exact(x)[0::3] + exact(x)[1::3] + exact(x)[2::3]
    assert exact(x.reshape(3, 2)) == exact(x)
    assert exact(x[:, 1]) == [exact(x)[1], exact(x)[4]]
    both = concatenate([x, DD(np.ones((2, 1)))], axis=1)
    assert both.shape == (2, 4)
    assert exact(both)[:3] == exact(x)[:3] and exact(both)[3] == 1
    with pytest.raises(ValueError, match="differ in shape"):
        DD(np.ones(2), np.ones(3))
