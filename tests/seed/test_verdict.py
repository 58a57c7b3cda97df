"""The verdict: bug or rounding. Correct methods pass, the bug zoo fails, a dtype
too coarse to see a bug says so, and degenerate numerics are results."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import SIZES, grid, methods_for

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.verdict import Error, verdict
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.inputs import Inputs, draw
from gradlab.problems.seed.metrics import floor_scale
from gradlab.problems.seed.reference import reference_grads
from gradlab.problems.seed.report import to_json_dict, to_table

SEEDS = (0, 1, 2)
ANALYTIC = ("structured", "kron")


def in_u(x: float, u: float) -> str:
    return f"{x / u:.3g} u"


def assert_carries_both_numbers(v):
    """err and threshold as fields, and both in the message (in units of u)."""
    assert math.isfinite(v.err) and math.isfinite(v.threshold) and v.threshold > 0
    assert in_u(v.err, v.u) in v.message, v.message
    assert in_u(v.threshold, v.u) in v.message, v.message


# ----------------------------------------------------------------- the rule

def err(rel: float, nonfinite: int = 0, u: float = 2.0**-24) -> Error:
    return Error(rel, rel, rel / u, nonfinite)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_threshold_is_twice_autograd_plus_the_floor(dtype):
    u, floor = DTYPES[dtype].u, DTYPES[dtype].floor
    auto = 3 * u
    for scale in (1.0, 7.5):
        threshold = 2 * auto + floor * scale * u
        at = verdict(dtype, err(threshold), err(auto), scale=scale)
        above = verdict(dtype, err(threshold * (1 + 1e-9)), err(auto), scale=scale)
        assert at.status == "pass" and at.threshold == pytest.approx(threshold, rel=1e-15)
        assert above.status == "fail" and above.threshold == at.threshold
        assert "bug" in above.message and "rounding" in at.message
        for v in (at, above):
            assert_carries_both_numbers(v)
            assert v.err_autograd == auto and v.u == u


def test_too_coarse_when_the_known_bug_is_below_the_threshold():
    u = DTYPES["bfloat16"].u
    v = verdict("bfloat16", err(2 * u), err(2 * u), bug_effect=1e-5)
    assert v.status == "too-coarse" and v.passed
    assert "too coarse" in v.message and "bfloat16" in v.message
    assert v.bug_effect == 1e-5
    seen = verdict("bfloat16", err(2 * u), err(2 * u), bug_effect=1.0)
    assert seen.status == "pass"  # within rounding although a bug: its effect is large
    caught = verdict("bfloat16", err(1.0), err(2 * u), bug_effect=1.0)
    assert caught.status == "fail" and not caught.passed


def test_non_finite_cases():
    u = DTYPES["float16"].u
    v = verdict("float16", err(1.0), err(1.0), ref_finite=False)
    assert v.status == "degenerate" and "degenerate" in v.message
    both = verdict("float16", err(math.nan, 4, u), err(math.nan, 4, u))
    assert both.status == "degenerate" and "4" in both.message
    alone = verdict("float16", err(math.nan, 3, u), err(u, 0, u))
    assert alone.status == "fail" and "3 non-finite" in alone.message
    # autograd itself out of its envelope: no rounding yardstick, so degenerate
    lost = verdict("float16", err(math.nan, 3, u), err(1e3 * u, 0, u))
    assert lost.status == "degenerate" and "envelope" in lost.message
    inside = verdict("float16", err(math.nan, 3, u), err(DTYPES["float16"].envelope * u, 0, u))
    assert inside.status == "fail"


def test_floor_scale_is_kappa_times_storage_plus_accumulation():
    # float32 accumulates in float32: s = κ (1 + √m)
    assert floor_scale(16, 1.0, "float32") == 5.0
    assert floor_scale(4, 3.0, "float64") == 9.0
    assert floor_scale(9, math.inf, "float32") == 4.0
    # bfloat16 accumulates in float32: √m·2⁻²⁴/2⁻⁸ is tiny beside the storage 1
    assert floor_scale(2**16, 1.0, "bfloat16") == 1.0 + 2**8 * 2.0**-16
    assert floor_scale(4, 2.0, "float16") == 2.0 * (1 + 2 * 2.0**-13)


def test_checks_use_the_table_floor_scaled_by_s(checked):
    for dtype in DTYPE_NAMES:
        check = checked(Case(16, 16, dtype=dtype, seed=1))
        auto = check.errors["autograd"]["W"].rel_err
        u = DTYPES[dtype].u
        expected = 2 * auto + DTYPES[dtype].floor * floor_scale(16, check.kappa, dtype) * u
        for method in ANALYTIC:
            assert check.verdicts[method].threshold == pytest.approx(expected, rel=1e-12)
        assert "autograd" not in check.verdicts


# -------------------------------------------------- correct methods pass

@pytest.mark.parametrize("dtype, size, eps, placement", grid())
def test_correct_methods_pass(dtype, size, eps, placement, checked):
    for seed in SEEDS:
        check = checked(Case(size, size, dtype=dtype, eps=eps, eps_placement=placement,
                             seed=seed))
        assert set(check.verdicts) == set(methods_for(size)) - {"autograd"}
        for method, v in check.verdicts.items():
            assert v.status == "pass", (seed, method, v.message)
            assert v.bug_effect is None
            assert_carries_both_numbers(v)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("m, n, batch", [(3, 7, 4), (16, 5, 8), (5, 33, 2)],
                         ids=["3x7-b4", "16x5-b8", "5x33-b2"])
def test_correct_methods_pass_rectangular_batched(dtype, m, n, batch, checked):
    for seed in SEEDS:
        check = checked(Case(m, n, batch, dtype, 1e-5, seed=seed))
        for method, v in check.verdicts.items():
            assert v.status == "pass", (seed, method, v.message)


def test_the_notebook_preset_passes_in_every_dtype(checked):
    for dtype in DTYPE_NAMES:
        for method, v in checked(Case.notebook(dtype=dtype)).verdicts.items():
            assert v.status == "pass", (dtype, method, v.message)


# ----------------------------------------------------------- the bug zoo

GROSS = ("no-projection", "wrong-mean", "transposed")


def zoo_params():
    for variant in GROSS:
        for dtype in DTYPE_NAMES:
            for size in SIZES:
                for seed in (1, 2):
                    yield pytest.param(variant, dtype, size, seed,
                                       id=f"{variant}-{dtype}-m{size}-seed{seed}")


@pytest.mark.parametrize("variant, dtype, size, seed", list(zoo_params()))
def test_gross_mistakes_fail_in_every_dtype(variant, dtype, size, seed, checked):
    check = checked(Case(size, size, dtype=dtype, seed=seed), variant=variant)
    assert check.bug_effect > 0.05  # a gross mistake, also at m = n (transposed)
    for method, v in check.verdicts.items():
        assert v.status == "fail", (method, v.message)
        assert v.message.startswith("bug") and not v.passed
        assert v.bug_effect == check.bug_effect
        assert_carries_both_numbers(v)
    # autograd is never the variant
    assert check.errors["autograd"]["W"].err_u < 100


@pytest.mark.parametrize("variant", GROSS)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("m, n, eps, placement", [
    (3, 5, 1e-5, "outside"), (16, 9, 1e-5, "inside"), (5, 3, 1e-5, "inside"),
], ids=["3x5-eps1e-5-outside", "16x9-eps1e-5-inside", "5x3-eps1e-5-inside"])
def test_gross_mistakes_fail_rectangular(variant, dtype, m, n, eps, placement, checked):
    check = checked(Case(m, n, dtype=dtype, eps=eps, eps_placement=placement, seed=1),
                    variant=variant)
    for method, v in check.verdicts.items():
        assert v.status == "fail", (method, v.message)


def test_transposed_is_wrong_at_square_sizes():
    """At m = n the transposed kron has the right shape and the wrong values."""
    check = run_check(Case(8, 8, dtype="float64", seed=1), variant="transposed")
    wrong = check.runs["structured"].grads["W"]
    right = check.runs["autograd"].grads["W"]
    assert wrong.shape == right.shape
    assert torch.allclose(wrong, right.T, rtol=1e-12, atol=1e-14)  # it is dL/dW laid out as n×m
    assert not torch.allclose(wrong, right, rtol=1e-2)


# -------------------------------------------------------------- eps-missing

def eps_missing(case: Case):
    return run_check(case, methods=("autograd", "structured") if case.m > 128 else
                     ("autograd", "structured", "kron"), variant="eps-missing")


@pytest.mark.parametrize("size", [2, 8, 64, 512,
                                  pytest.param(4096, marks=pytest.mark.slow)],
                         ids=lambda s: f"m{s}")
def test_eps_missing_fails_in_float64_at_every_size(size):
    placements = ("inside",) if size == 4096 else ("inside", "outside")
    for placement in placements:
        check = eps_missing(Case(size, size, dtype="float64", eps=1e-5,
                                 eps_placement=placement))
        for method, v in check.verdicts.items():
            assert v.status == "fail", (placement, method, v.message)
            assert_carries_both_numbers(v)
            assert v.bug_effect > 100 * v.threshold


@pytest.mark.parametrize("placement", ["inside", "outside"])
def test_eps_missing_fails_in_float32_at_the_notebook_size(placement):
    notebook = eps_missing(Case.notebook(eps=1e-5, eps_placement=placement))
    u = DTYPES["float32"].u
    # the issue: "about 2e-6 relative, some 40 u"
    assert 10 * u < notebook.bug_effect < 100 * u
    for method, v in notebook.verdicts.items():
        assert v.status == "fail", (method, v.message)
        assert_carries_both_numbers(v)
    for seed in range(5):
        check = eps_missing(Case(2, 3, dtype="float32", eps=1e-5, eps_placement=placement,
                                 seed=seed))
        for method, v in check.verdicts.items():
            assert v.status == "fail", (seed, method, v.message)


@pytest.mark.parametrize("dtype, size", [
    ("float32", 512), ("float32", 2048),
    *[(d, s) for d in ("bfloat16", "float16") for s in (2, 8, 64, 512)],
], ids=lambda x: f"m{x}" if isinstance(x, int) else x)
def test_eps_missing_is_too_coarse_to_see(dtype, size):
    check = eps_missing(Case(size, size, dtype=dtype, eps=1e-5, seed=1))
    for method, v in check.verdicts.items():
        assert v.status == "too-coarse", (method, v.message)
        assert v.message.startswith("too coarse") and dtype in v.message
        assert v.passed
        assert v.bug_effect == check.bug_effect <= v.threshold
        assert v.err <= v.threshold
        assert math.isfinite(v.threshold)
    assert check.to_row()["structured_status"] == "too-coarse"


def test_eps_missing_is_harmless_without_eps():
    """With ε = 0 the mistake changes nothing: no bug to see, the method passes."""
    check = run_check(Case(8, 8, dtype="float64"), variant="eps-missing")
    assert check.bug_effect <= 1e-15
    assert all(v.status in ("pass", "too-coarse") for v in check.verdicts.values())


# ------------------------------------------------------- degenerate numerics

def _json_ok(check) -> dict:
    text = json.dumps(to_json_dict(check), allow_nan=False)  # strict JSON, no NaN tokens
    return json.loads(text)


@pytest.mark.parametrize("m", [1, 8], ids=lambda m: f"m{m}")
def test_u_zero_is_degenerate_not_a_crash(m):
    """float16 W × 1e-8 rounds to 0: a = 0, u = 0 with ε = 0."""
    check = run_check(Case(m, 8, dtype="float16", scale=1e-8))
    assert torch.count_nonzero(check.inputs.W) == 0
    assert check.verdicts and all(v.status == "degenerate" for v in check.verdicts.values())
    assert any("u" in note and "0" in note for note in check.notes), check.notes
    assert check.to_row()["structured_status"] == "degenerate"
    _json_ok(check)
    assert "degenerate" in to_table(check)


@pytest.mark.filterwarnings("ignore:(invalid value|divide by zero):RuntimeWarning")
def test_a_zero_gives_a_non_finite_reference():
    """x = 0 makes a = 0 exactly in any dtype; with ε = 0 the exact gradient is 0/0."""
    inputs = draw(4, 3, 1, seed=0)
    zero = Inputs(inputs.W, torch.zeros_like(inputs.X), inputs.g, inputs.b, inputs.eps)
    ref = reference_grads(zero, "inside")
    assert not math.isfinite(ref.max_abs("W"))
    v = verdict("float64", err(math.nan, 12), err(math.nan, 12),
                ref_finite=math.isfinite(ref.max_abs("W")))
    assert v.status == "degenerate"
    with_eps = reference_grads(Inputs(*zero.tensors().values(), torch.tensor(1e-5,
                                      dtype=torch.float64)), "inside")
    assert with_eps.max_abs("W") == 0.0  # ε > 0: a = 0 is an ordinary point


def test_bfloat16_has_no_such_underflow():
    """bfloat16 has float32's exponent range: W × 1e-8 is an ordinary case."""
    check = run_check(Case(8, 8, dtype="bfloat16", scale=1e-8))
    assert all(v.status == "pass" for v in check.verdicts.values())
    assert check.notes == []


def test_eps_rounding_to_zero_in_float16_is_noted():
    """ε = 1e-8 rounds to 0 in float16, and with W × 1e-4 every a² underflows."""
    check = run_check(Case(8, 8, dtype="float16", scale=1e-4, eps=1e-8))
    assert float(check.inputs.eps) == 0.0
    assert any("rounds to 0" in note and "float16" in note for note in check.notes)
    assert all(v.status == "degenerate" for v in check.verdicts.values())
    _json_ok(check)


def test_eps_that_survives_float16_is_not_noted():
    check = run_check(Case(8, 8, dtype="float16", eps=1e-5))
    assert float(check.inputs.eps) > 0
    assert not any("rounds to 0" in note for note in check.notes)


def test_float16_overflow_in_mean_square_is_degenerate():
    """W × 1e3: a ≈ 1e3, a² overflows float16 (max 65504), u = inf."""
    check = run_check(Case(8, 8, dtype="float16", scale=1e3))
    _json_ok(check)
    assert all(v.status == "degenerate" for v in check.verdicts.values()), \
        {k: v.message for k, v in check.verdicts.items()}


def test_float16_autograd_overflow_does_not_convict_a_correct_method():
    """W × 1e-4, ε = 1e-6: autograd's backward overflows to inf (non-finite); the
    structured method stays finite. A correct method must not read as a bug."""
    check = run_check(Case(8, 8, dtype="float16", scale=1e-4, eps=1e-6))
    assert check.errors["autograd"]["W"].nonfinite > 0
    assert any("autograd" in note and "non-finite" in note for note in check.notes)
    _json_ok(check)
    for method, v in check.verdicts.items():
        assert v.status in ("pass", "degenerate"), (method, v.message)


def test_residual_of_a_non_finite_gradient_is_not_zero():
    check = run_check(Case(4, 4, dtype="float16", scale=1e-8))
    for method, residual in check.residual.items():
        assert residual is not None and math.isnan(residual), (method, residual)


def test_float16_overflow_is_a_result_not_an_exception():
    for kwargs in (dict(scale=1e3), dict(scale=1e-4, eps=1e-6),
                   dict(scale=1e-4, eps=1e-6, eps_placement="outside")):
        check = run_check(Case(8, 8, dtype="float16", **kwargs))
        assert set(check.verdicts) == {"structured", "kron"}
        assert check.notes, kwargs
        _json_ok(check)
        to_table(check)
