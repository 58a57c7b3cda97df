"""The one verdict engine (gradlab/core/verdict.py): the rule in two norms and along
the truth, the sensitivity it states, too-coarse only below that sensitivity, and degenerate
cases as results."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.core.compare_pass import ordered_sum
from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.verdict import (
    NORMS,
    Error,
    TruthNorms,
    compare,
    compare_all,
    degenerate,
    in_u,
    make_error,
    truth_norms,
    verdict,
    verdict_dict,
)


def err(rel: float, fro: float | None = None, nonfinite: int = 0, dtype: str = "float32"
        ) -> Error:
    """An Error with relative max-norm ``rel`` and normwise ``fro`` (default: the same)."""
    fro = rel if fro is None else fro
    return make_error(rel, 1.0, dtype, nonfinite, fro, 1.0)


def at_threshold(dtype: str, base: float, kappa: dict, norm: str) -> float:
    return 2 * base + DTYPES[dtype].floor_in(norm, kappa[norm]) * DTYPES[dtype].u


# ------------------------------------------------------------------ the rule

@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("norm", NORMS)
def test_each_norm_fails_on_its_own(dtype, norm):
    """err_N ≤ 2·autograd_N + c_N·κ_N·u passes, a hair above fails, and the other
    norm far inside its threshold does not save it."""
    u = DTYPES[dtype].u
    kappa = {"max": 1.0, "fro": 1.0} | {norm: 3.5}
    base = 2 * u
    limit = at_threshold(dtype, base, kappa, norm)
    other = "fro" if norm == "max" else "max"

    def errors(value):
        return err(**({"rel": value, "fro": u} if norm == "max" else {"rel": u, "fro": value}),
                   dtype=dtype)

    at = verdict(dtype, errors(limit), err(base, dtype=dtype), kappa=kappa)
    above = verdict(dtype, errors(limit * (1 + 1e-9)), err(base, dtype=dtype), kappa=kappa)
    assert at.status == "pass" and at.passed
    assert above.status == "fail" and not above.passed
    assert at.threshold_in(norm) == pytest.approx(limit, rel=1e-15)
    assert at.checks[other].err == u and not above.checks[other].failed
    assert above.message.startswith("bug") and at.message.startswith("rounding")
    for v in (at, above):
        assert in_u(v.threshold_in(norm), u) in v.message
        assert in_u(v.checks[norm].err, u) in v.message


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_sensitivity_is_threshold_plus_error_and_is_stated(dtype):
    u = DTYPES[dtype].u
    v = verdict(dtype, err(1.5 * u, 1.1 * u, dtype=dtype), err(2 * u, 1.2 * u, dtype=dtype))
    for norm in NORMS:
        assert v.sensitivity(norm) == pytest.approx(v.threshold_in(norm) + v.checks[norm].err)
    assert f"a bug of ≥ {in_u(v.sensitivity('fro'), u)} normwise" in v.message
    assert f"≥ {in_u(v.sensitivity('max'), u)} in one entry" in v.message


def test_a_further_bug_above_the_sensitivity_always_fails():
    """The triangle inequality behind the sensitivity: G = T + R, a bug B on top with
    ‖B‖ just above the sensitivity fails, whatever direction R and B take."""
    gen = torch.Generator().manual_seed(7)
    truth = torch.randn(64, 32, generator=gen, dtype=torch.float64)
    dtype, u = "float32", DTYPES["float32"].u
    rounding = truth.to(torch.float32)
    base = compare(rounding, truth, dtype)
    passing = verdict(dtype, base, base)
    assert passing.passed
    for trial in range(20):
        direction = torch.randn(64, 32, generator=gen, dtype=torch.float64)
        direction /= torch.linalg.norm(direction)
        bug = direction * torch.linalg.norm(truth) * passing.sensitivity("fro") * 1.001
        buggy = compare((rounding.double() + bug).to(torch.float64), truth, dtype)
        assert buggy.fro_err > passing.threshold_in("fro"), trial
        assert not verdict(dtype, buggy, base).passed
    assert u > 0


# ------------------------------------------------------------ known bugs

def test_too_coarse_only_below_the_sensitivity():
    dtype, u = "bfloat16", DTYPES["bfloat16"].u
    small = {"max": 0.5 * u, "fro": 0.4 * u}
    v = verdict(dtype, err(2 * u, dtype=dtype), err(2 * u, dtype=dtype), bug_effect=small)
    assert v.status == "too-coarse" and not v.passed
    assert "cannot resolve" in v.message and "bfloat16" in v.message
    assert v.bug_effect == small
    for norm in NORMS:
        assert small[norm] <= v.sensitivity(norm)


def test_a_known_bug_that_vanished_numerically_is_not_a_pass():
    """The exact mistake is far above what the check resolves, yet the computed
    gradient is within rounding (e.g. k = u²/Σa² underflowing to 0): fail, saying so."""
    dtype, u = "float16", DTYPES["float16"].u
    v = verdict(dtype, err(u, dtype=dtype), err(u, dtype=dtype),
                bug_effect={"max": 500 * u, "fro": 500 * u})
    assert v.status == "fail" and "vanished numerically" in v.message


def test_a_visible_known_bug_fails():
    dtype, u = "float32", DTYPES["float32"].u
    v = verdict(dtype, err(80 * u, dtype=dtype), err(4 * u, dtype=dtype),
                bug_effect={"max": 80 * u, "fro": 80 * u})
    assert v.status == "fail" and v.message.startswith("bug")


# ------------------------------------------------------------- degenerate

def test_no_yardstick_is_degenerate():
    u = DTYPES["float16"].u
    assert verdict("float16", err(u), err(u), truth_finite=False).status == "degenerate"
    zero = verdict("float16", err(math.inf), err(0.0), truth_zero=True)
    assert zero.status == "degenerate" and "exact gradient is 0" in zero.message
    both = verdict("float16", err(math.nan, nonfinite=4), err(math.nan, nonfinite=4))
    assert both.status == "degenerate" and "4 non-finite" in both.message


def test_a_non_finite_candidate_beside_a_finite_autograd_fails():
    u = DTYPES["float16"].u
    v = verdict("float16", err(math.nan, nonfinite=3, dtype="float16"),
                err(u, dtype="float16"))
    assert v.status == "fail" and "3 non-finite" in v.message


def test_the_envelope_applies_only_where_asked():
    dtype, u = "float16", DTYPES["float16"].u
    wide = err(1e3 * u, dtype=dtype)
    lost = verdict(dtype, err(1e3 * u, dtype=dtype), wide, envelope=True)
    assert lost.status == "degenerate" and "envelope" in lost.message
    assert verdict(dtype, err(1e3 * u, dtype=dtype), wide).status == "pass"


def test_degenerate_helper_and_plain_data():
    v = degenerate("float16", "kron overflows")
    assert v.status == "degenerate" and v.message == "degenerate: kron overflows"
    assert math.isnan(v.threshold) and math.isnan(v.sensitivity("fro"))
    data = verdict_dict(verdict("float32", err(1e-7), err(1e-7)))
    assert set(data["norms"]) == set(NORMS) and data["passed"] is True
    assert data["norms"]["fro"]["sensitivity"] > data["norms"]["fro"]["threshold"]


# ----------------------------------------------------------------- compare

@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("shape", [(7,), (33, 5), (600, 700)], ids=lambda s: "x".join(map(str, s)))
def test_compare_matches_numpy_in_both_norms(dtype, shape):
    gen = torch.Generator().manual_seed(3)
    truth = torch.randn(*shape, generator=gen, dtype=torch.float64)
    grad = truth.to(DTYPES[dtype].torch_dtype)
    e = compare(grad, truth, dtype)
    g, t = grad.double().numpy(), truth.numpy()
    assert e.abs_err == np.abs(g - t).max()
    assert e.rel_err == pytest.approx(np.abs(g - t).max() / np.abs(t).max(), rel=1e-14)
    assert e.fro_err == pytest.approx(np.linalg.norm(g - t) / np.linalg.norm(t), rel=1e-12)
    assert e.err_u == pytest.approx(e.rel_err / DTYPES[dtype].u, rel=1e-14)
    assert e.nonfinite == 0


def test_compare_counts_non_finite_entries_and_checks_shapes():
    truth = torch.ones(4, 4, dtype=torch.float64)
    grad = truth.clone().float()
    grad[0, 0], grad[1, 2] = math.nan, math.inf
    e = compare(grad, truth, "float32")
    assert e.nonfinite == 2 and math.isnan(e.rel_err)
    with pytest.raises(ValueError, match=r"shape \(4,\) against the truth's \(4, 4\)"):
        compare(torch.ones(4), truth, "float32")


def separate_passes(grad: torch.Tensor, truth: torch.Tensor, dtype: str
                    ) -> tuple[TruthNorms, Error]:
    """The truth's norms, then grad's error, each in its own pass of torch ops: type
    promotion inside the subtraction, each maximum by aminmax, each sum in the pass's order
    (``compare_pass.ordered_sum``, checked against the order written out in
    test_compare_pass.py)."""
    t, g = truth.reshape(-1).double(), grad.reshape(-1)
    low, high = torch.aminmax(t) if t.numel() else (torch.zeros(()), torch.zeros(()))
    peak = max(-low.item(), high.item()) if not math.isnan(low + high) else math.nan
    ss = ordered_sum(t * t)
    d = torch.sub(g, t)
    low, high = torch.aminmax(d)
    abs_err = max(-low.item(), high.item()) if not math.isnan(low + high) else math.nan
    dev_ss, along = ordered_sum(d * d), ordered_sum(d * t)
    nonfinite = 0 if math.isfinite(dev_ss) else int((~torch.isfinite(g)).sum())
    norms = TruthNorms(peak + 0.0, math.sqrt(ss))
    return norms, make_error(abs_err + 0.0, norms.peak, dtype, nonfinite, math.sqrt(dev_ss),
                             norms.fro, along)


def assert_same(got: Error, want: Error) -> None:
    """Equal field by field, NaN equal to NaN."""
    for field in ("abs_err", "rel_err", "err_u", "fro_err", "fro_u", "nonfinite", "scale"):
        a, b = getattr(got, field), getattr(want, field)
        assert a == b or (math.isnan(a) and math.isnan(b)), (field, a, b)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("size", [1, 255, 4097, 300_001], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("special", ["finite", "nan", "inf"])
def test_one_pass_gives_each_compare_and_the_norms_bit_for_bit(dtype, size, special):
    """compare_all (the truth read once for its norms, autograd's and the candidate's
    errors, and the block maxima) against separate passes with type promotion."""
    gen = torch.Generator().manual_seed(size)
    truth = torch.randn(size, generator=gen, dtype=torch.float64)
    torch_dtype = DTYPES[dtype].torch_dtype
    grads = [(truth * (1 + 1e-3 * torch.randn(size, generator=gen, dtype=torch.float64)))
             .to(torch_dtype) for _ in range(2)]
    if special != "finite":
        grads[1][size // 2] = math.nan if special == "nan" else -math.inf
    block = 256
    result = compare_all(truth, grads, dtype, block)
    for grad, got in zip(grads, result.errors):
        norms, want = separate_passes(grad, truth, dtype)
        assert result.norms == norms == truth_norms(truth)
        assert_same(got, want)
        assert_same(compare(grad, truth, dtype), want)
        assert_same(compare(grad, truth, dtype, norms), want)
    whole = size // block * block
    if whole:
        diff = (grads[1].double() - truth).abs().nan_to_num(nan=math.inf)[:whole]
        assert torch.equal(result.maxima, diff.view(-1, block).amax(1))
    else:
        assert result.maxima is None
    with pytest.raises(ValueError, match="block 3 does not divide 8192"):
        compare_all(truth, grads, dtype, 3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_a_widened_subtraction_has_type_promotions_bits(dtype):
    from gradlab.core.precise import widened_sub

    gen = torch.Generator().manual_seed(1)
    wide = torch.randn(1000, generator=gen, dtype=torch.float64) * 1e3
    narrow = (wide * (1 + 1e-2 * torch.randn(1000, generator=gen, dtype=torch.float64))
              ).to(DTYPES[dtype].torch_dtype)
    narrow[:3] = torch.tensor([math.nan, math.inf, -math.inf])
    out = torch.empty(1000, dtype=torch.float64)
    got = widened_sub(narrow, wide, out)
    assert got.data_ptr() == out.data_ptr()
    assert torch.equal(got.nan_to_num(nan=7.0), torch.sub(narrow, wide).nan_to_num(nan=7.0))


@settings(max_examples=60, deadline=None)
@given(base=st.floats(0, 50), scale=st.floats(1, 100), kmax=st.floats(1, 30),
       kfro=st.floats(1, 30), dtype=st.sampled_from(DTYPE_NAMES))
def test_more_error_never_turns_a_fail_into_a_pass(base, scale, kmax, kfro, dtype):
    u = DTYPES[dtype].u
    kappa = {"max": kmax, "fro": kfro}
    lower = verdict(dtype, err(base * u, dtype=dtype), err(base * u / 2, dtype=dtype),
                    kappa=kappa)
    higher = verdict(dtype, err(base * scale * u, dtype=dtype),
                     err(base * u / 2, dtype=dtype), kappa=kappa)
    assert not (lower.status == "fail" and higher.status == "pass")
    # a larger κ or a worse autograd only widens the threshold
    for norm in NORMS:
        assert higher.threshold_in(norm) == lower.threshold_in(norm)


# ------------------------------------------------------------------ along the truth

def scaled(rel: float, along: float | None, dtype: str = "float32") -> Error:
    """An Error of max-norm and normwise ``rel``, and ``along`` the truth (None: not
    measured), relative."""
    return make_error(rel, 1.0, dtype, 0, rel, 1.0, math.nan if along is None else along)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("delta_u", [-10.0, 10.0, 1e3])
def test_compare_sees_a_scaled_gradient_in_full_along_the_truth(dtype, delta_u):
    """G = (1 + δ)·T: the error along the truth is δ exactly, whatever T is."""
    truth = torch.randn(300, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    delta = delta_u * DTYPES[dtype].u
    e = compare(truth * (1 + delta), truth, dtype)
    assert e.scale == pytest.approx(delta, rel=1e-6)
    assert e.rel("scale") / DTYPES[dtype].u == pytest.approx(abs(delta_u), rel=1e-6)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 400))
@settings(max_examples=60, deadline=None)
def test_the_error_along_the_truth_never_exceeds_the_normwise_error(seed, n):
    """Cauchy–Schwarz: |⟨G − T, T⟩|/‖T‖² ≤ ‖G − T‖/‖T‖; equal for a pure scale."""
    gen = torch.Generator().manual_seed(seed)
    truth = torch.randn(n, generator=gen, dtype=torch.float64)
    grad = truth + 1e-6 * torch.randn(n, generator=gen, dtype=torch.float64)
    e = compare(grad, truth, "float32")
    assert e.rel("scale") <= e.fro_err * (1 + 1e-12)


def test_a_scale_bug_hidden_normwise_fails_along_the_truth():
    """The seed layer's float32 ∂x at width 1024: autograd errs by ~8 u normwise
    but ~0.4 u along the truth; a 10 u scale bug stays under twice the normwise
    autograd, and fails along the truth, saying so."""
    u = DTYPES["float32"].u
    base = scaled(8 * u, 0.4 * u)
    v = verdict("float32", scaled(13 * u, 10.4 * u), base)
    assert v.status == "fail" and "scale" in v.checks
    assert not v.checks["fro"].failed and v.checks["scale"].failed
    assert "along the truth 10.4 u > 3.8 u = 2 × autograd 0.4 u + floor 3 u" in v.message
    ok = verdict("float32", scaled(8 * u, 0.3 * u), base)
    assert ok.status == "pass" and "or a wrong scale of ≥ 4.1 u" in ok.message


def test_without_a_measure_along_the_truth_the_rule_has_two_norms():
    u = DTYPES["float32"].u
    pairs = [(scaled(u, None), scaled(u, 0.1 * u)), (scaled(u, 0.1 * u), scaled(u, None))]
    for cand, base in pairs:
        v = verdict("float32", cand, base)
        assert set(v.checks) == set(NORMS) and "along the truth" not in v.message
        assert "wrong scale" not in v.message


def test_a_known_scale_mistake_below_every_sensitivity_is_too_coarse():
    u = DTYPES["float32"].u
    v = verdict("float32", scaled(8 * u, 2 * u), scaled(8 * u, 0.4 * u),
                bug_effect={"max": 2 * u, "fro": 2 * u, "scale": 2 * u})
    assert v.status == "too-coarse"
    seen = verdict("float32", scaled(8 * u, 0.5 * u), scaled(8 * u, 0.4 * u),
                   bug_effect={"max": 2 * u, "fro": 2 * u, "scale": 10 * u})
    assert seen.status == "fail" and "along the truth" in seen.message


def test_the_json_names_the_yardstick_autograd_and_keeps_the_old_key_for_one_release():
    """verdict_dict's norms say "autograd"; "baseline", its name in 0.1, still reads through 0.2
    (docs/verify.md, "The JSON")."""
    u = DTYPES["float32"].u
    d = verdict_dict(verdict("float32", err(2 * u), err(3 * u)))
    for norm in NORMS:
        assert d["norms"][norm]["autograd"] == d["norms"][norm]["baseline"] == 3 * u
    assert d["err_autograd"] == 3 * u


def test_a_mistake_that_changes_nothing_is_judged_as_correct():
    """A known mistake whose exact effect is 0 in every norm (the seed's eps-missing at
    ε = 0) is not a resolution limit: the gradient is judged as a correct one, and the
    verdict says the mistake left it unchanged (issue 20: it read "too-coarse … 0 u")."""
    u = DTYPES["float32"].u
    v = verdict("float32", err(u), err(u), bug_effect={"max": 0.0, "fro": 0.0})
    assert v.status == "pass" and v.message.endswith("the mistake leaves this gradient unchanged")
    assert verdict("float32", err(u), err(u), bug_effect={"max": 1e-9, "fro": 1e-9}).status \
        == "too-coarse"
