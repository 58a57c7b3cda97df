"""The joint Taylor test (every input moved at once, steps down to the usable window's
bottom) and how verify uses it: it stands for a row only where it finds the gradients
consistent and resolves at least what that input's own test would; a row still fails
on the Taylor test exactly where its own test fails."""

from __future__ import annotations

import math

import pytest
import torch
from verify_functions import KINK_IDS, KINKS, SavedTanh, draws

import gradlab
from gradlab.verification.calls import as_outputs
from gradlab.verification.taylor import (
    FIT_TOL,
    MIN_POINTS,
    MIN_RATE,
    STEPS,
    covers_alone,
    joint_test,
    ladder,
    loss_at,
    own_line,
    own_reach,
    reach,
    taylor_test,
)

F64 = torch.float64


def joint(fn, x, grad, w, v):
    return joint_test(fn, [x], {0: grad}, [w], {0: v}, as_outputs,
                      loss_at(fn, [x], [w], as_outputs), ("x",))


def counted(fn):
    calls = {"n": 0}

    def wrapped(*args):
        calls["n"] += 1
        return fn(*args)
    return wrapped, calls


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_right_gradient_has_rate_two_in_at_most_min_points_plus_one_forwards(seed):
    x, w, v = draws(6, 7, seed=seed)
    fn, calls = counted(torch.tanh)
    at_x = loss_at(torch.tanh, [x], [w], as_outputs)
    t = joint_test(fn, [x], {0: w * (1 - torch.tanh(x) ** 2)}, [w], {0: v}, as_outputs, at_x,
                   ("x",))
    assert t.decided and not t.failed
    assert t.rate == pytest.approx(2, abs=0.05) and len(t.rates) >= 5
    assert calls["n"] == t.steps <= MIN_POINTS + 1
    assert covers_alone(t), "the window reaches below the own ladder's last step"


@pytest.mark.parametrize("error", [1e-2, 1e-4])
def test_a_wrong_gradient_fails_it_as_it_fails_the_own_test(error):
    x, w, v = draws(6, 7)
    wrong = w * (1 - torch.tanh(x) ** 2) * (1 + error)
    t = joint(torch.tanh, x, wrong, w, v)
    assert t.failed and t.rate < MIN_RATE
    assert taylor_test(torch.tanh, [x], 0, wrong, [w], v, as_outputs).failed


def test_a_linear_function_leaves_it_undecided():
    x, w, v = draws(5)
    t = joint(lambda x: 3 * x + 1, x, 3 * w, w, v)
    assert not t.decided and not t.failed and "too few usable steps" in t.sentence()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("fn, grad", KINKS, ids=KINK_IDS)
def test_steps_across_kinks_never_make_it_a_wrong_gradient(fn, grad, seed):
    x, w, v = draws(32, 512, seed=seed)
    t = joint(fn, x, grad(x, w), w, v)
    assert not t.failed
    assert not t.smooth and (math.isnan(t.misfit) or t.misfit > FIT_TOL)


def test_own_reach_is_infinite_for_a_right_linear_input_and_finite_for_a_wrong_one():
    x, w, v = draws(5)
    line = lambda x: 3 * x + 1  # noqa: E731
    at_x = loss_at(line, [x], [w], as_outputs)
    assert own_reach(line, [x], 0, 3 * w, [w], v, as_outputs, at_x) == math.inf
    assert 0 < own_reach(line, [x], 0, 3 * w * (1 + 1e-6), [w], v, as_outputs, at_x) < math.inf


@pytest.mark.parametrize("error", [0.0, 1e-4])
def test_an_own_ladder_after_its_reach_runs_their_shared_step_once(error):
    """``reach`` and ``ladder`` on one ``own_line``: STEPS forwards in all (the SCREEN
    step taken once), and the test a fresh ``taylor_test`` gives, bit for bit."""
    x, w, v = draws(6, 7)
    grad = w * (1 - torch.tanh(x) ** 2) * (1 + error)
    fn, calls = counted(torch.tanh)
    at_x = loss_at(torch.tanh, [x], [w], as_outputs)
    line = own_line(fn, [x], 0, grad, [w], v, as_outputs, at_x)
    assert 0 < reach(line) < math.inf and calls["n"] == 1
    shared = ladder(line)
    assert calls["n"] == STEPS
    fresh = taylor_test(torch.tanh, [x], 0, grad, [w], v, as_outputs, at_x)
    assert repr(shared) == repr(fresh)  # repr: every float's bits, NaN too
    assert shared.failed == (error > 0) and shared.usable >= MIN_POINTS


def reference(x, w, b):
    return torch.tanh(x) * w + b


def forward_bug(x, w, b):
    """The reference's gradient, but a forward off by 1e-8 relative in tanh(x)·w."""
    return reference(x, w, b) + 1e-8 * (torch.tanh(x) * w).detach()


def test_a_forward_bug_on_a_linear_input_still_fails_that_row():
    """The joint test finds tanh(x)·w's curvature larger than the bug along w: the
    own test of w (L is linear in w, R = a·h) runs and fails, as before the joint test."""
    report = gradlab.verify(forward_bug, reference, {"x": (8, 16), "w": (16,), "b": (16,)},
                            dtypes=("float64",))
    status = dict(zip(report.frame["input"], report.frame["status"]))
    assert status == {"x": "pass", "w": "fail", "b": "pass"}
    w_row = report.frame.set_index("input").loc["w"]
    assert w_row["taylor_rate"] == pytest.approx(1, abs=0.05)
    assert "a wrong gradient" in w_row["evidence"]


def test_a_passing_candidate_takes_a_few_forwards_whatever_its_inputs():
    """1 with autograd (whose outputs also give L(x)), the probe and MIN_POINTS steps,
    one own step per input, where the per-input ladders took 1 + 1 + STEPS·n."""
    fn, calls = counted(reference)
    report = gradlab.verify(fn, reference, {"x": (8, 16), "w": (16,), "b": (16,)},
                            dtypes=("float64",))
    assert report.passed, str(report)
    assert calls["n"] == 1 + (MIN_POINTS + 1) + 3 < 2 + 3 * STEPS
    assert all("x, w, b moved together" in e for e in report.frame["evidence"])


class _TanhReusingItsOutput(SavedTanh):
    """tanh whose backward computes 1 − y² in the memory of its saved output y, as a
    kernel short of memory may: once the backward has run, the output it returned
    holds 1 − y²."""

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y.mul_(y).neg_().add_(1)


def test_l_at_x_is_taken_before_a_backward_that_reuses_the_output():
    """L(x) comes from the candidate's own float64 forward, read before its backward
    runs: read after, this correct candidate's L(x) would be ⟨w, 1 − y²⟩ and every
    remainder off by a constant."""
    fn, calls = counted(_TanhReusingItsOutput.apply)
    report = gradlab.verify(fn, torch.tanh, {"x": (8, 16)}, dtypes=("float64",))
    row = report.frame.iloc[0]
    assert row["status"] == "pass", row["evidence"]
    assert row["taylor_rate"] == pytest.approx(2, abs=0.05), row["evidence"]
    assert "consistent with the forward" in row["evidence"]
    assert calls["n"] == 1 + MIN_POINTS + 1  # autograd's run, then the probe and the steps
