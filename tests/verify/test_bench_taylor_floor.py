"""bench_taylor_floor counts the Taylor test's forwards, and only them: the candidate's
calls made without autograd. Its ratios are worth what that count is."""

from __future__ import annotations

import pytest
import torch

from bench.bench_taylor_floor import Counted
from gradlab.problems.library import PROBLEMS
from gradlab.verification import verify
from gradlab.verification.taylor import MIN_POINTS


@pytest.mark.parametrize("name", ["gelu", "layernorm"])
def test_it_counts_the_taylor_forwards_of_float64_alone(name):
    problem = PROBLEMS[name]
    inputs = problem.inputs(problem.sizes[0])
    fn = Counted(problem.candidate("correct").fn)
    verify(fn, problem.reference, inputs, ("float32",))
    assert fn.calls == 0 and fn.seconds == 0     # no Taylor test outside float64
    report = verify(fn, problem.reference, inputs, ("float64",))
    assert report.passed
    # at least the joint test's probe and its steps, each a timed forward
    assert fn.calls >= MIN_POINTS + 1 and fn.seconds > 0


def test_calls_with_autograd_pass_through_uncounted():
    fn = Counted(torch.tanh)
    x = torch.ones(3, requires_grad=True)
    fn(x).sum().backward()
    with torch.no_grad():
        fn(x)
    assert fn.calls == 1
