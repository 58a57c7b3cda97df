"""gradlab/verification/cost.py: verify's time estimated from one probe, the time guard
for functions without a fitted model (a module function on Verify, a corpus op)."""

from __future__ import annotations

import math

import pytest
import torch

from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.verification import cost
from gradlab.verification.cost import (
    DRAW_SECONDS,
    PROBE_COST,
    PROBE_T0,
    Probe,
    check_probed,
    estimate_seconds,
    probe,
    probed_seconds,
)


def product(x, w):
    return x @ w


def raising(x, w):
    raise ValueError("planted failure")


INPUTS = {"x": (8, 16), "w": (16,), "k": torch.arange(3)}


def test_the_probe_times_both_functions_and_counts_the_entries_drawn():
    calls = []

    def spy(x, w, k):
        calls.append((x.dtype, w.dtype, k.dtype, x.requires_grad))
        return x @ w

    sample = probe(spy, spy, INPUTS, ("float32", "bfloat16"))
    assert set(sample.seconds) == {"float32", "bfloat16"}
    assert all(s > 0 for s in sample.seconds.values())
    assert sample.entries == 8 * 16 + 16, "k is not drawn"
    assert calls == [(torch.float32, torch.float32, torch.int64, True)] * 2 + [
        (torch.bfloat16, torch.bfloat16, torch.int64, True)] * 2


def test_a_function_that_raises_is_timed_until_it_raises():
    sample = probe(raising, product, {"x": (8, 16), "w": (16,)}, ("float32",))
    assert sample.seconds["float32"] > 0 and sample.entries == 144


@pytest.mark.parametrize("dtypes", [("float32",), ("float64", "bfloat16", "float16")],
                         ids=["one", "three"])
def test_the_estimate_is_the_model_s_sum(dtypes):
    sample = Probe(seconds=dict.fromkeys(dtypes, 0.5), entries=10_000)
    assert probed_seconds(sample) == pytest.approx(
        sum(PROBE_T0 + PROBE_COST[d] * 0.5 for d in dtypes)
        + DRAW_SECONDS * 10_000)


def test_nothing_is_probed_without_a_time_limit(monkeypatch):
    monkeypatch.setattr(cost, "probe", lambda *a, **k: pytest.fail("probed"))
    check_probed(product, product, {"x": (8, 16), "w": (16,)}, ("float32",), 0, Limits(),
                 "verifying product")


def test_past_the_time_limit_verify_is_refused_naming_the_estimate_and_the_limit(monkeypatch):
    seconds = {"float32": 3.0, "float16": 3.0}
    monkeypatch.setattr(cost, "probe", lambda *a, **k: Probe(seconds, entries=144))
    with pytest.raises(GradlabError) as caught:
        check_probed(product, product, {"x": (8, 16), "w": (16,)}, ("float32", "float16"), 0,
                     Limits(max_seconds=5), "verifying product in 2 dtypes")
    estimate = probed_seconds(Probe(seconds, 144))
    assert estimate > 5
    assert str(caught.value).startswith("verifying product in 2 dtypes refused: it would "
                                        f"take about {estimate:,.1f} s here, over the time "
                                        "limit of 5 s (GRADLAB_MAX_SECONDS)")
    check_probed(product, product, {"x": (8, 16), "w": (16,)}, ("float32", "float16"), 0,
                 Limits(max_seconds=60), "verifying product")  # raised: it runs


def test_the_memory_guard_comes_before_the_probe(monkeypatch):
    monkeypatch.setattr(cost, "probe", lambda *a, **k: pytest.fail("probed"))
    with pytest.raises(GradlabError, match="memory budget"):
        estimate_seconds(product, product, {"x": (4096, 4096), "w": (4096,)}, ("float32",),
                         0, Limits(case_bytes=2**20))


def test_the_model_is_fitted_and_sane():
    assert set(PROBE_COST) == {"float64", "float32", "bfloat16", "float16"}
    assert all(math.isfinite(c) and c >= 1 for c in PROBE_COST.values()), (
        "verify runs at least the probe's work (candidate and reference) in every dtype")
    assert 0 < PROBE_T0 < 0.1 and 0 < DRAW_SECONDS < 1e-6
