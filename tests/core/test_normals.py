"""core.normals: the block ziggurat's layers, its paths word by word, its distribution,
and its independence of the block size."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest

from gradlab.core import normals
from gradlab.core.normal_layers import INNER, LAYERS, F, R, V, X
from gradlab.core.normals import standard_normal


def compute(digits: int = 50) -> tuple[float, float, tuple, tuple, tuple]:
    """(R, V, X, F, INNER) from the layers' equations (core.normal_layers) at ``digits``
    digits: R by bisection on the top layer's closure."""
    with mp.workdps(digits):
        def f(x):
            return mp.exp(-x * x / 2)

        def area(r):
            return r * f(r) + mp.sqrt(mp.pi / 2) * mp.erfc(r / mp.sqrt(2))

        def edges(r):
            v, xs = area(r), [r]
            for _ in range(LAYERS - 2):
                step = f(xs[-1]) + v / xs[-1]
                if step >= 1:  # the layers close below the top: r is too small
                    return None
                xs.append(mp.sqrt(-2 * mp.log(step)))
            return xs

        def overshoot(r):
            xs = edges(r)
            return 1 if xs is None else f(xs[-1]) + area(r) / xs[-1] - 1

        lo, hi = mp.mpf("3.6"), mp.mpf("3.7")
        for _ in range(digits * 4):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if overshoot(mid) > 0 else (lo, mid)
        r = hi
        v = area(r)
        exact = [v / f(r), *edges(r), mp.mpf(0)]
        X = tuple(float(x) for x in exact)
        F = tuple(float(f(x)) for x in exact)
    INNER = tuple(int(Fraction(X[i + 1]) * 2**52 // Fraction(X[i])) for i in range(LAYERS))
    return float(r), float(v), X, F, INNER


def test_the_tables_are_the_equations_at_fifty_digits():
    assert compute() == (R, V, X, F, INNER)


def test_every_layer_has_the_area_v():
    assert X[1] == R and X[LAYERS] == 0.0 and F[LAYERS] == 1.0
    assert all(a > b for a, b in zip(X, X[1:]))
    assert X[0] * F[1] == pytest.approx(V, rel=1e-14)  # the base, tail included
    for i in range(1, LAYERS):
        assert X[i] * (F[i + 1] - F[i]) == pytest.approx(V, rel=1e-12), i
    # the tail beyond R: V − R·f(R) = ∫_R^∞ f
    assert V - R * F[1] == pytest.approx(math.sqrt(math.pi / 2) * math.erfc(R / math.sqrt(2)),
                                         rel=1e-12)


@pytest.mark.parametrize("i", [0, 1, 2, 100, 200, 254, 255])
def test_inner_is_the_exact_floor(i):
    """a < INNER[i] exactly when a·X[i] < 2⁵²·X[i+1], in exact arithmetic."""
    k = INNER[i]
    assert Fraction(k) * Fraction(X[i]) < 2**52 * Fraction(X[i + 1]) or k == 0
    assert Fraction(k + 1) * Fraction(X[i]) >= 2**52 * Fraction(X[i + 1])


class Words:
    """A scripted stream of 64-bit words with ``random_raw``, as a BitGenerator has."""

    def __init__(self, words):
        self.words, self.taken = list(words), 0

    def random_raw(self, size):
        if self.taken + size > len(self.words):
            raise AssertionError(f"the draw asked for word {self.taken + size}, "
                                 f"past the {len(self.words)} scripted")
        out = np.array(self.words[self.taken:self.taken + size], dtype=np.uint64)
        self.taken += size
        return out


def word(layer: int, a: int, negative: bool = False) -> int:
    """The word of layer ``layer``, sign and 52-bit integer ``a``."""
    return (a << 12) | (int(negative) << 8) | layer


def unit_word(u: float) -> int:
    """A word whose uniform (top 53 bits over 2⁵³) is ``u``."""
    return int(u * 2**53) << 11


def test_the_fast_path_is_a_times_the_layer_width():
    a = INNER[3] - 1
    words = Words([word(3, a), word(3, a, negative=True), word(0, 5)])
    z = standard_normal(words, (3,))
    width = X[3] * 2.0**-52
    assert z.tolist() == [a * width, -(a * width), 5 * X[0] * 2.0**-52]
    assert words.taken == 3


def test_a_wedge_is_kept_under_the_density_and_drawn_afresh_above_it():
    a = (INNER[200] + 2**52) // 2  # between X[201] and X[200]: in the wedge
    x = a * X[200] * 2.0**-52
    assert X[201] < x < X[200]
    low, high = unit_word(0.0), unit_word(1 - 2**-53)  # the layer's bottom and top
    fresh = word(5, 7)
    # entry 0 kept (height F[200] < f(x)); entry 1 rejected (height ≈ F[201] > f(x)),
    # drawn afresh from the words after both wedge words
    words = Words([word(200, a), word(200, a, negative=True), low, high, fresh])
    z = standard_normal(words, (2,))
    assert z[0] == x
    assert z[1] == 7 * X[5] * 2.0**-52
    assert words.taken == 5


def test_the_top_layer_is_all_wedge():
    assert INNER[LAYERS - 1] == 0
    words = Words([word(LAYERS - 1, 0), unit_word(0.5)])
    assert standard_normal(words, (1,)).tolist() == [0.0]  # x = 0: f(0) = 1 > any height


def test_the_base_past_r_draws_from_the_tail():
    """A word each first (the tail's unused), then the tail's rounds of two words:
    t = −ln U₁/R, e = −ln U₂, kept if 2e > t²."""
    u1, u2 = 0.5, 0.25  # t = ln 2/R, e = ln 4: kept
    rejected = (1e-10, 0.5)  # t = 6.3, e = 0.69 < t²/2: the next round
    words = Words([word(0, INNER[0], negative=True), unit_word(0.3),
                   *(unit_word(u - 2**-53) for u in rejected),
                   unit_word(u1 - 2**-53), unit_word(u2 - 2**-53)])
    z = standard_normal(words, (1,))
    t = -math.log(u1) / R
    assert z.tolist() == [-(R + t)]
    assert words.taken == 6


def test_the_draws_do_not_depend_on_the_block(monkeypatch):
    expected = standard_normal(np.random.SFC64(7), (123_457,))
    for block in (1, 1000, 1 << 20):
        monkeypatch.setattr(normals, "BLOCK", block)
        got = standard_normal(np.random.SFC64(7), (123_457,))
        assert got.tobytes() == expected.tobytes(), block


def test_shapes_and_the_stream_carries_on():
    bits = np.random.SFC64(3)
    a = standard_normal(bits, (3, 4))
    assert a.shape == (3, 4) and a.dtype == np.float64 and a.flags.c_contiguous
    assert standard_normal(bits, (0,)).shape == (0,)
    both = standard_normal(np.random.SFC64(3), (12,))
    assert both.tolist() == a.reshape(-1).tolist()  # one stream, whatever the calls
    assert not np.array_equal(standard_normal(bits, (12,)), both)


def test_the_bits_of_seed_zero():
    """The scheme itself: a change of table, order or method shows here."""
    z = standard_normal(np.random.SFC64(0), (100_000,))
    assert hashlib.sha256(z.tobytes()).hexdigest() == DIGEST


DIGEST = "d925f6a464ac88ce49cf5bfccc51f25663ac3d6d626674d03fa8ba06a6ee2f23"


def ks_statistic(z: np.ndarray) -> float:
    """sup |F_n − Φ| of the draws ``z`` (every 16th order statistic, both sides)."""
    z = np.sort(z)
    n = z.size
    at = np.arange(0, n, 16)
    phi = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z[at]])
    return float(max(np.max(np.abs(phi - at / n)), np.max(np.abs(phi - (at + 1) / n))))


def layer_chi2(z: np.ndarray) -> float:
    """Pearson's χ² of |z| over the layers' x intervals [X[i+1], X[i]) and [R, ∞):
    a wedge's error shows in its own interval."""
    edges = [*X[LAYERS:0:-1], math.inf]  # 0, X[255], …, X[1] = R, ∞
    counts = np.histogram(np.abs(z), bins=edges)[0]
    tail = [math.erfc(e / math.sqrt(2)) for e in edges]  # P(|z| > e)
    expected = np.array([lo - hi for lo, hi in zip(tail, tail[1:])]) * z.size
    return float(((counts - expected) ** 2 / expected).sum())


N = 1 << 22
#: The 0.1 % quantiles (the draws are fixed by their seeds: no flakiness): Kolmogorov's
#: over √N, and χ² with 255 degrees of freedom (Wilson–Hilferty).
KS_LIMIT = 1.95 / math.sqrt(N)
CHI2_LIMIT = 255 * (1 - 2 / (9 * 255) + 3.09 * math.sqrt(2 / (9 * 255))) ** 3


@pytest.mark.parametrize("seed", [11, 12])
def test_the_draws_are_standard_normal(seed):
    z = standard_normal(np.random.SFC64(seed), (N,))
    assert ks_statistic(z) < KS_LIMIT
    assert layer_chi2(z) < CHI2_LIMIT
    assert abs(z.mean()) < 4 / math.sqrt(N)
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / N)
    # the tail beyond R, 1 draw in 3,900: drawn at its rate, and only there
    beyond = np.abs(z) > R
    rate = math.erfc(R / math.sqrt(2))
    assert abs(beyond.mean() - rate) < 4 * math.sqrt(rate / N)
    assert np.abs(z).max() > R


def test_the_distribution_test_catches_a_wedge_always_kept(monkeypatch):
    """Heights at each layer's bottom keep every wedge point: the density is off by the
    wedges' rejected area, which the test above sees."""
    monkeypatch.setattr(normals, "_STEP", np.zeros_like(normals._STEP))
    z = standard_normal(np.random.SFC64(11), (N,))
    assert layer_chi2(z) > CHI2_LIMIT
