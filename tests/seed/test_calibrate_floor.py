"""bench/calibrate_floor.py's two fits of the floor c + b·κ: each covers MARGIN × every
excess, and neither is looser than it needs to be."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.calibrate_floor import MARGIN, bound_at, fit_floor

cases = st.lists(st.tuples(st.floats(-5, 500), st.floats(1, 1e4)), min_size=1, max_size=30)


def arrays(pairs):
    excess, kappa = (np.array(column, dtype=float) for column in zip(*pairs))
    return excess, kappa


@settings(max_examples=200, deadline=None)
@given(cases)
@example([(2.0, 1.0), (3.0, 2.0)])  # the optimum is where the two constraints cross: b = c = 2
def test_the_fit_covers_every_excess_with_the_smallest_median_floor(pairs):
    excess, kappa = arrays(pairs)
    c, b = fit_floor(excess, kappa)
    assert c >= 0 and b >= 0
    assert np.all(c + b * kappa >= MARGIN * excess - 1e-9)
    # No other feasible (c, b) on a grid of b has a smaller median floor.
    median = np.median(kappa)
    for other_b in np.linspace(0, 2 * b + 1, 41):
        other_c = max(0.0, float((MARGIN * excess - other_b * kappa).max()))
        assert c + b * median <= (other_c + other_b * median) * (1 + 1e-9) + 1e-12


@settings(max_examples=200, deadline=None)
@given(cases, st.floats(0, 10))
@example([(5e-324, 1.0)], 0.0)  # b subnormal: 0.999·b rounds back to b
def test_the_bound_at_a_given_c_is_the_least_that_covers(pairs, c):
    excess, kappa = arrays(pairs)
    b = bound_at(c, excess, kappa)
    assert b >= 0
    assert np.all(c + b * kappa >= MARGIN * excess - 1e-9)
    if b > 0:  # a smaller b (0.999·b, or the next float down) leaves some excess uncovered
        smaller = min(0.999 * b, float(np.nextafter(b, 0.0)))
        assert np.any(c + smaller * kappa < MARGIN * excess)


def test_the_bound_at_the_table_c_on_a_known_case():
    # excess 3.92 u at κ = 3.93 with c = 4: b = (2·3.92 − 4)/3.93.
    assert bound_at(4.0, np.array([3.92, 1.0]), np.array([3.93, 100.0])) == \
        (MARGIN * 3.92 - 4.0) / 3.93
    assert bound_at(6.0, np.array([1.0]), np.array([5.0])) == 0.0
