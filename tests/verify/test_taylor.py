"""The Taylor remainder test on its own: rate 2 for a right gradient, 1 for a wrong one,
no decision where L is linear."""

from __future__ import annotations

import math

import pytest
import torch
from verify_functions import KINK_IDS, KINKS, draws

from gradlab.verification.calls import as_outputs
from gradlab.verification.taylor import (
    FIRST_ORDER,
    FIT_TOL,
    MIN_RATE,
    Taylor,
    fit_remainders,
    taylor_test,
)

F64 = torch.float64


def run(fn, x, grad, w, v) -> Taylor:
    return taylor_test(fn, [x], 0, grad, [w], v, as_outputs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_right_gradient_has_rate_two(seed):
    x, w, v = draws(6, 7, seed=seed)
    t = run(torch.tanh, x, w * (1 - torch.tanh(x) ** 2), w, v)
    assert t.decided and not t.failed
    assert t.rate == pytest.approx(2, abs=0.05)
    assert len(t.rates) >= 5
    assert "consistent with the forward" in t.sentence()


@pytest.mark.parametrize("error", [1e-2, 1e-4])
def test_a_wrong_gradient_has_rate_one(error):
    x, w, v = draws(6, 7)
    right = w * (1 - torch.tanh(x) ** 2)
    t = run(torch.tanh, x, right * (1 + error), w, v)
    assert t.failed and t.rate < MIN_RATE
    if error > 1e-3:  # a smaller error crosses over from rate 2 later, below 1 at first
        assert t.rate == pytest.approx(1, abs=0.1)
    assert "a wrong gradient" in t.sentence()


def test_a_linear_function_leaves_no_usable_step():
    x, w, v = draws(5)
    t = run(lambda x: 3 * x + 1, x, 3 * w, w, v)
    assert not t.decided and not t.failed
    assert math.isnan(t.rate)
    assert "too few usable steps" in t.sentence()


def test_the_fit_reads_the_first_order_share_at_the_smallest_step():
    h = [2.0**-k for k in range(4, 12)]
    right = [0.3 * s * s + 0.1 * s**3 for s in h]
    misfit, share = fit_remainders(h, right)
    assert misfit < 1e-9 and share < 1e-6
    wrong = [1e-3 * s + 0.3 * s * s for s in h]       # a·h takes over below h = 1/300
    misfit, share = fit_remainders(h, wrong)
    assert misfit < 1e-9 and share > FIRST_ORDER
    assert math.isnan(fit_remainders(h[:3], wrong[:3])[0])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("fn, grad", KINKS, ids=KINK_IDS)
def test_steps_across_kinks_are_inconclusive_never_a_wrong_gradient(fn, grad, seed):
    x, w, v = draws(32, 512, seed=seed)
    t = run(fn, x, grad(x, w), w, v)
    assert not t.failed
    assert "inconclusive (not smooth here)" in t.sentence()
    assert t.misfit > FIT_TOL
