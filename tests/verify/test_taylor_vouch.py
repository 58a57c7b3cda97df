"""Where the rule vouches for the inputs' own Taylor ladders (float64): it passed,
finer than ``taylor.VOUCH``, gradients that are not all the truth's bits, and the
candidate's forward is the reference's at x. There a consistent joint test stands for
every input; everywhere else each input's own step, and ladder, run as before."""

from __future__ import annotations

import pytest
import torch

import gradlab
import gradlab.verification.run as run
from bench.bench_taylor_floor import Counted
from gradlab.problems.layernorm import layer_norm, reference, torch_layer_norm
from gradlab.verification.taylor import MARGIN, MIN_POINTS, U64, forwards_agree

INPUTS = {"x": (16, 64), "weight": (64,), "bias": (64,)}
VOUCHED = "no input's own ladder run"


class ForwardBug(torch.autograd.Function):
    """LayerNorm whose forward adds ``scale`` · bias once more (a bug in the forward
    alone), with the reference's gradients, each moved by one rounding (so not the
    truth's bits): right for the reference, wrong for its own forward in the bias."""

    @staticmethod
    def forward(ctx, x, weight, bias, scale):
        ctx.save_for_backward(x, weight, bias)
        return reference(x, weight, bias) + scale * bias

    @staticmethod
    def backward(ctx, dy):
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_() for t in ctx.saved_tensors]
            grads = torch.autograd.grad(reference(*leaves), leaves, dy)
        return (*(g * (1 + 2.0**-52) for g in grads), None)


def forward_bug(scale):
    return lambda x, weight, bias: ForwardBug.apply(x, weight, bias, scale)


def rows(fn) -> dict:
    report = gradlab.verify(fn, reference, INPUTS, ("float64",))
    return report.frame.set_index("input")[["status", "evidence"]].to_dict("index")


@pytest.mark.parametrize("scale", [1e-5, 1e-7], ids=["1e-5", "1e-7"])
def test_a_forward_bug_in_a_linear_input_still_fails_on_its_own_ladder(scale, monkeypatch):
    """The rule passes the bias's gradient (the reference's, to a rounding), the joint
    test misses so small a first-order term in an input L is linear in, and the bias's
    own ladder catches it: the forwards differ at x, so the rule vouches for nothing."""
    got = rows(forward_bug(scale))
    assert got["bias"]["status"] == "fail"
    assert "a wrong gradient" in got["bias"]["evidence"]
    assert got["x"]["status"] == got["weight"]["status"] == "pass"
    # Were the forwards taken to agree, the joint test would stand, and miss it.
    monkeypatch.setattr(run, "forwards_agree", lambda candidate, ref: True)
    assert rows(forward_bug(scale))["bias"]["status"] == "pass"


def test_an_independent_right_gradient_runs_no_own_step(monkeypatch):
    """torch's LayerNorm: another computation of the same gradients, within rounding.
    The joint test stands for the inputs the rule vouches for, without their own steps;
    with the rule made to vouch for nothing, those steps run again."""
    fn = Counted(torch_layer_norm)
    got = rows(fn)
    vouched = [n for n, row in got.items() if VOUCHED in row["evidence"]]
    assert all(row["status"] == "pass" for row in got.values())
    assert "x" in vouched
    assert fn.calls == MIN_POINTS + 1 + len(INPUTS) - len(vouched)
    fn.calls = 0
    monkeypatch.setattr(run, "VOUCH", 0.0)
    assert not any(VOUCHED in row["evidence"] for row in rows(fn).values())
    assert fn.calls > MIN_POINTS + 1 + len(INPUTS) - len(vouched)


def test_gradients_of_which_some_are_the_truths_bits_are_vouched_for_alike():
    """The hand-written LayerNorm: its ∂w and ∂b are autograd's bits (the same sums in
    the same order), its ∂x is not. It is not the reference's autograd over again, so
    the rule vouches for all three rows: the joint test's forwards alone."""
    fn = Counted(layer_norm)
    report = gradlab.verify(fn, reference, INPUTS, ("float64",))
    assert (report.frame["err_max"] == 0).sum() >= 1    # some gradient is the truth's bits
    assert all(row["status"] == "pass" and VOUCHED in row["evidence"]
               for row in report.rows)
    assert fn.calls == MIN_POINTS + 1


def test_gradients_that_are_all_the_truths_bits_are_not_vouched_for():
    """The reference as its own candidate: the rule compares a computation with itself
    and vouches for nothing."""
    got = rows(reference)
    assert all(row["status"] == "pass" and VOUCHED not in row["evidence"]
               for row in got.values())


@pytest.mark.parametrize("gap, agree", [(0.0, True), (0.99, True), (1.01, False)])
def test_forwards_agree_within_margin_times_the_floor(gap, agree):
    s_c, s_r = 3.0, 5.0
    floor = MARGIN * U64 * (s_c + s_r)
    assert forwards_agree((1.0 + gap * floor, s_c), (1.0, s_r)) is agree
    assert not forwards_agree((float("nan"), s_c), (1.0, s_r))
