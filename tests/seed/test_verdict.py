"""The seed layer's verdicts: correct methods pass (on seeds the floors were never
fitted on), the bug zoo fails, a check too coarse to see a bug says so, and
degenerate numerics are results. The rule itself is tested in
tests/core/test_verdict_engine.py."""

from __future__ import annotations

import json
import math

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from conftest import SIZES, grid, methods_for
from hypothesis import given, settings

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.verdict import NORMS
from gradlab.problems.seed.case import EARLIER_DRAWS, NUMPY_DRAWS, Case
from gradlab.problems.seed.check import KRON_WALK, TOKEN_ROUNDINGS, method_kappa, run_check
from gradlab.problems.seed.inputs import Inputs, case_draws, case_inputs, draw
from gradlab.problems.seed.reference import reference_grads
from gradlab.problems.seed.report import to_json_dict, to_table

#: Held out: bench/calibrate_floor.py fits the floors on seeds 0–9.
SEEDS = (1000, 1001, 1002)
ANALYTIC = ("structured", "kron")


def in_u(x: float, u: float) -> str:
    return f"{x / u:.3g} u"


def assert_carries_both_numbers(v):
    """err and threshold as fields, and both in the message (in units of u)."""
    assert math.isfinite(v.err) and math.isfinite(v.threshold) and v.threshold > 0
    assert in_u(v.err, v.u) in v.message, v.message
    assert in_u(v.threshold, v.u) in v.message, v.message


# ----------------------------------------------------------------- the rule

@pytest.mark.parametrize("batch", (1, 3))
def test_checks_use_the_table_floors_with_kappa(batch, checked):
    """threshold_N = 2·autograd_N + (c_N + b_N·κ_N)·u, kron's κ carrying its length-m
    matrix-vector product (1 + 3·√m·u_acc/u), structured's the tokens' cancellation
    (κ + L·(K − 1))."""
    for dtype in DTYPE_NAMES:
        check = checked(Case(16, 16, batch, dtype=dtype, seed=1001))
        info = DTYPES[dtype]
        for norm in NORMS:
            base = check.errors["autograd"]["W"].rel(norm)
            kappa = check.reference.kappa(norm)
            tokens = check.reference.token_condition(norm)
            assert (tokens > 1) == (batch > 1)
            for method in ANALYTIC:
                k = kappa * (1 + KRON_WALK * 4 * info.u_acc / info.u) if method == "kron" \
                    else kappa + TOKEN_ROUNDINGS * max(tokens - 1, 0.0)
                expected = 2 * base + (info.floor(norm) + info.bound(norm) * k) * info.u
                assert check.verdicts[method].threshold_in(norm) == pytest.approx(expected,
                                                                                  rel=1e-12)
        assert "autograd" not in check.verdicts


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_one_token_has_no_cancellation_among_the_tokens(dtype, checked):
    """K = 1 for one token (dL/dW = row xᵀ: no sum), so structured's κ is the problem's."""
    check = checked(Case(16, 8, dtype=dtype, seed=1003))
    assert check.kappa_tokens == check.kappa_tokens_fro == 1.0
    for norm, kappa in (("max", check.kappa), ("fro", check.kappa_fro)):
        tokens = check.reference.token_condition(norm)
        assert method_kappa("structured", kappa, 16, dtype, tokens) == kappa


@pytest.mark.parametrize("dtype", ("float64", "float32", "bfloat16"))
@pytest.mark.parametrize("m, n, batch", [(1, 1, 4), (3, 5, 2), (16, 16, 4)],
                         ids=["m1n1b4", "m3n5b2", "m16n16b4"])
def test_the_tokens_condition_is_the_cancellation_of_their_terms(dtype, m, n, batch):
    """K_N = ‖Σ_t |row_t| |x_t|ᵀ‖_N / ‖dL/dW‖_N, taken against the terms formed whole:
    exact normwise, an upper bound (Σ_t max|row_t|·max|x_t|) in the max-norm; ≥ 1."""
    check = run_check(Case(m, n, batch, dtype, eps=1e-2, seed=1004), methods=("structured",))
    ref = check.reference
    # float64 cases: longdouble (or double-double: its hi) factors
    rows, x = (torch.as_tensor(np.asarray(getattr(f, "hi", f), dtype=np.float64))
               for f in (ref.rows, ref.X))
    terms = rows.abs().T @ x.abs()          # Σ_t |row_t| |x_t|ᵀ, m × n
    G = rows.T @ x
    assert ref.token_condition("fro") == pytest.approx(
        float(terms.norm() / G.norm()), rel=1e-9)
    assert ref.token_condition("max") >= float(terms.max() / G.abs().max()) * (1 - 1e-12)
    for norm in NORMS:
        assert ref.token_condition(norm) >= 1 - 1e-12


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 12), batch=st.integers(1, 5),
       dtype=st.sampled_from(["float64", "float32", "bfloat16"]),
       eps=st.sampled_from([0.0, 1e-5, 1e-2, 1.0, 10.0]),
       placement=st.sampled_from(["inside", "outside"]),
       scale=st.sampled_from([1e-4, 1e-2, 1.0]), seed=st.integers(0, 2**31 - 1))
def test_kappa_bounds_the_tokens_condition_which_is_at_least_one(m, n, batch, dtype, eps,
                                                                  placement, scale, seed):
    """κ_N ≥ K_N ≥ 1: term_scale's e_row bounds |row| entry by entry, so its terms bound
    Σ_t |row_t||x_t|ᵀ in each norm; K = 1 exactly for one token; structured's κ is at
    least the problem's."""
    check = run_check(Case(m, n, batch, dtype, eps, placement, scale, seed),
                      methods=("structured",))
    ref = check.reference
    if not math.isfinite(check.kappa):  # a zero gradient (m = 1, ε = 0): K is inf too
        assert check.kappa_tokens == math.inf
        return
    for norm, kappa in (("max", check.kappa), ("fro", check.kappa_fro)):
        tokens = ref.token_condition(norm)
        assert kappa * (1 + 1e-12) >= tokens >= 1 - 1e-12, (norm, kappa, tokens)
        assert tokens == 1.0 or batch > 1
        assert method_kappa("structured", kappa, m, dtype, tokens) >= kappa


@pytest.mark.parametrize("batch", (1, 3))
def test_the_report_gives_the_tokens_cancellation_where_there_are_several(batch, checked):
    check = checked(Case(4, 4, batch, "float32", seed=1005))
    metrics = to_json_dict(check)["metrics"]
    assert metrics["kappa_tokens"] == check.kappa_tokens
    assert metrics["kappa_tokens_fro"] == check.kappa_tokens_fro
    line = f"the tokens' terms cancel by K = {check.kappa_tokens:.3g}"
    assert (line in to_table(check)) == (batch > 1)


def test_kappa_is_at_least_one_in_both_norms(checked):
    for dtype in DTYPE_NAMES:
        for size, batch in ((2, 1), (16, 3), (128, 4)):
            check = checked(Case(size, size, batch, dtype, seed=1002))
            assert check.kappa >= 1 and check.kappa_fro >= 1


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
                for seed in (2, 3):
                    yield pytest.param(variant, dtype, size, seed,
                                       id=f"{variant}-{dtype}-m{size}-seed{seed}")


@pytest.mark.parametrize("variant, dtype, size, seed", list(zoo_params()))
def test_gross_mistakes_fail_in_every_dtype(variant, dtype, size, seed, checked):
    check = checked(Case(size, size, dtype=dtype, seed=seed), variant=variant)
    assert check.bug_effect["max"] > 0.05  # a gross mistake, also at m = n (transposed)
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
            assert v.bug_effect["max"] > 10 * v.threshold


@pytest.mark.parametrize("placement", ["inside", "outside"])
def test_eps_missing_fails_in_float32_at_the_notebook_size(placement):
    notebook = eps_missing(Case.notebook(eps=1e-5, eps_placement=placement))
    u = DTYPES["float32"].u
    # the issue: "about 2e-6 relative, some 40 u"
    assert 10 * u < notebook.bug_effect["max"] < 100 * u
    for method, v in notebook.verdicts.items():
        assert v.status == "fail", (method, v.message)
        assert_carries_both_numbers(v)
    # Other draws at that size: the mistake's effect ranges from 5 u to 3·10⁴ u. Where
    # it is above the notebook's some 40 u it fails; below, it is never passed (seed 3's
    # 5.5 u inside and 10 u outside are too-coarse for one method or both).
    for seed in range(5):
        check = eps_missing(Case(2, 3, dtype="float32", eps=1e-5, eps_placement=placement,
                                 seed=seed))
        for method, v in check.verdicts.items():
            if check.bug_effect["max"] > 40 * u:
                assert v.status == "fail", (seed, method, v.message)
            else:
                assert v.status in ("fail", "too-coarse") and not v.passed, (seed, method)


@pytest.mark.parametrize("size", [48, 128, 256, 1024], ids=lambda s: f"m{s}")
@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
def test_eps_missing_fails_in_float32_batch_4(size, seed):
    """The power the old √m floor lacked: the bug stands 36–78 u above rounding."""
    check = run_check(Case(size, size, 4, "float32", 1e-5, seed=seed),
                      methods=("autograd", "structured"), variant="eps-missing")
    v = check.verdicts["structured"]
    assert v.status == "fail", v.message


@pytest.mark.parametrize("dtype, size", [
    ("float32", 512), ("float32", 2048),
    *[(d, s) for d in ("bfloat16", "float16") for s in (2, 8, 64, 512)],
], ids=lambda x: f"m{x}" if isinstance(x, int) else x)
def test_eps_missing_is_too_coarse_only_below_the_sensitivity(dtype, size):
    """Where the verdict says too-coarse, the mistake's exact effect is below what the
    check could have seen, in both norms; where the effect is above it, it fails."""
    statuses = set()
    for seed in (1, 2):
        check = eps_missing(Case(size, size, dtype=dtype, eps=1e-5, seed=seed))
        for method, v in check.verdicts.items():
            statuses.add(v.status)
            effect_seen = any(check.bug_effect[norm] > v.sensitivity(norm) for norm in NORMS)
            if v.status == "too-coarse":
                assert not effect_seen and not v.passed, (method, v.message)
                assert v.message.startswith("too coarse") and dtype in v.message
                assert "would have failed here" in v.message
            else:
                assert v.status == "fail", (method, v.message)
            assert check.to_row()[f"{method}_status"] == v.status
    if dtype != "float32":
        assert "too-coarse" in statuses  # bfloat16 and float16 cannot see a 1e-5 shift


def test_eps_missing_is_harmless_without_eps():
    """With ε = 0 the mistake changes nothing: no bug to see, the method passes."""
    check = run_check(Case(8, 8, dtype="float64"), variant="eps-missing")
    assert check.bug_effect["max"] <= 1e-15
    assert all(v.status in ("pass", "too-coarse") for v in check.verdicts.values())
    assert all(v.status == "too-coarse" for v in check.verdicts.values()) or \
        check.bug_effect["max"] == 0


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
    check = run_check(Case(4, 3, dtype="float64"), inputs=zero, reference=ref)
    assert all(v.status == "degenerate" for v in check.verdicts.values())
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


# ------------------------------- the false alarms and wrong labels of issue 9

def statuses(check) -> dict[str, str]:
    return {method: v.status for method, v in check.verdicts.items()}


@pytest.mark.parametrize("m, n, dtype", [(1, 48, "float64"), (1, 1, "float32")],
                         ids=["m1n48-float64", "m1n1-float32"])
def test_an_exactly_zero_gradient_is_degenerate(m, n, dtype):
    """m = 1, ε = 0: â = ±1 whatever W is, so dL/dW = 0 exactly; any residue would
    read as infinitely many u. Not a fail: degenerate, with a note."""
    check = run_check(Case(m, n, dtype=dtype, seed=1))
    assert set(statuses(check).values()) == {"degenerate"}, statuses(check)
    assert any("L does not depend on W" in note for note in check.notes), check.notes
    _json_ok(check)


def test_float16_overflow_inside_gradlabs_kernels_is_avoided_or_degenerate():
    """W × 100 in float16: Σa² and D = m·u² overflow, mean(a²) does not. structured
    uses mean(a²) and passes; kron keeps the seed's formula and says it overflows."""
    check = run_check(Case(8, 8, dtype="float16", scale=100, seed=21))
    assert check.verdicts["structured"].status == "pass", check.verdicts["structured"].message
    kron = check.verdicts["kron"]
    assert kron.status == "degenerate" and "overflows float16" in kron.message
    assert any(note.startswith("kron: the seed's R") for note in check.notes)


@pytest.mark.parametrize("m, eps, seed", [(1, 1e-5, 122), (2, 0.01, 100), (3, 0.0, 106)],
                         ids=["m1-seed122", "m2-seed100", "m3-seed106"])
def test_float16_overflow_in_the_forward_is_degenerate(m, eps, seed):
    """Held-out seeds at W × 100 in float16: some token's a² overflows, so u = ∞ in
    autograd's forward as in every method (autograd silently zeroes that token's
    gradient, a method gives NaN). Neither is a bug of the method: degenerate, with
    a note naming the forward's overflow."""
    check = run_check(Case(m, m, batch=4, dtype="float16", eps=eps, eps_placement="outside",
                           scale=100, seed=seed))
    assert not torch.isfinite(check.runs["autograd"].u).all()
    assert set(statuses(check).values()) == {"degenerate"}, statuses(check)
    assert all("overflows in the layer's forward" in v.message
               for v in check.verdicts.values())
    assert "overflows in the layer's forward" in check.notes[0]
    _json_ok(check)


@pytest.mark.parametrize("m, n, eps, placement, seed", [
    (2, 3, 1e-5, "inside", 126), (2, 1, 0.01, "outside", 336)], ids=["seed126", "seed336"])
def test_cancellation_in_v_counts_in_kappa(m, n, eps, placement, seed):
    """v = g ⊙ â + b cancels: κ sees it, and the correct methods pass."""
    check = run_check(Case(m, n, dtype="float16", eps=eps, eps_placement=placement, seed=seed))
    assert set(statuses(check).values()) == {"pass"}, \
        {k: v.message for k, v in check.verdicts.items()}
    assert check.kappa > 5  # the terms that cancel are several times the result


def test_cancellation_in_a_counts_in_kappa():
    """a = W x is ill-conditioned (κ 63): every method sits near 16 u and they agree.
    A pass, never "float64 cannot represent this case"."""
    check = run_check(Case(2, 8, dtype="float64", seed=126))
    errs = [check.errors[name]["W"].err_u for name in check.runs]
    assert min(errs) > 10 and max(errs) - min(errs) < 5
    assert set(statuses(check).values()) == {"pass"}, \
        {k: v.message for k, v in check.verdicts.items()}


def earlier_inputs(case: Case, scheme: str) -> Inputs:
    """``case``'s inputs on an earlier scheme's draws (``inputs.SCHEMES``), rounded to its
    dtype: the draws on which a held-out false alarm was found, kept as a regression."""
    return case_inputs(case, base=case_draws(case, scheme))


@pytest.mark.parametrize("dtype, scale, eps, seed", [
    ("float64", 1e-4, 10.0, 115), ("float64", 1e-4, 3.0, 120), ("float32", 1.0, 10.0, 136)],
    ids=["float64-eps10-seed115", "float64-eps3-seed120", "float32-eps10-seed136"])
def test_the_rounding_of_u_counts_in_kappa(dtype, scale, eps, seed):
    """m = n = 1, batch 4, ε outside and large: dL/dW sums four tokens' terms of either
    sign (Σ|terms| is 9–16× the result), each carrying the rounding of u = |a| + ε,
    its reciprocal and the products after it (structured's per-token rows: 0.3–2.5 u).
    κ counts u's own rounding, and structured passes (held-out false alarms of the ε
    grid before it did: 25.8 u against 23 u, 13.7 against 10.3, 9.33 against 9.23). The
    alarms were found on torch's draws of these seeds, which the test keeps."""
    case = Case(1, 1, batch=4, dtype=dtype, eps=eps, eps_placement="outside", scale=scale,
                seed=seed)
    check = run_check(case, inputs=earlier_inputs(case, EARLIER_DRAWS))
    assert set(statuses(check).values()) == {"pass"}, \
        {k: v.message for k, v in check.verdicts.items()}
    assert check.kappa > 15


@pytest.mark.parametrize("dtype, eps, placement, scale, seed", [
    ("float32", 1e-2, "inside", 1e-2, 137), ("float32", 3.0, "outside", 1e-4, 126),
    ("float64", 10.0, "outside", 1e-2, 122)],
    ids=["float32-eps0.01-inside-seed137", "float32-eps3-outside-seed126",
         "float64-eps10-outside-seed122"])
def test_structured_counts_its_roundings_where_the_tokens_cancel(dtype, eps, placement, scale,
                                                                 seed):
    """m = n = 1, batch 4: dL/dW is the sum of four tokens' terms, which cancel (K of
    11–21, κ about 2K), each carrying every rounding of structured's per-token chain, where κ counts
    about one unit of |row_t|. The held-out false alarms of the numpy-sfc64 draws:
    structured's error is over what κ alone allows (c + b·κ beyond twice autograd's),
    and within its own κ + L·(K − 1)."""
    case = Case(1, 1, batch=4, dtype=dtype, eps=eps, eps_placement=placement, scale=scale,
                seed=seed)
    check = run_check(case, methods=("structured",), inputs=earlier_inputs(case, NUMPY_DRAWS))
    info = DTYPES[dtype]
    err = check.errors["structured"]["W"]
    base = check.errors["autograd"]["W"]
    without_tokens = [(e, b, info.floor_in(norm, k)) for norm, e, b, k in
                      (("max", err.err_u, base.err_u, check.kappa),
                       ("fro", err.fro_u, base.fro_u, check.kappa_fro))]
    assert any(e > 2 * b + floor for e, b, floor in without_tokens), without_tokens
    assert check.kappa_tokens > 10
    v = check.verdicts["structured"]
    assert v.status == "pass", v.message


def test_a_bug_whose_k_would_vanish_still_fails():
    """float16, W × 0.01, ε = 1e-5: 1/u² overflows float16, which made k = 0 and the
    mistake vanish. k is now u²/Σa² of like magnitudes, the bug shows, and fails."""
    check = run_check(Case(2, 1, dtype="float16", scale=0.01, eps=1e-5, seed=0),
                      variant="eps-missing")
    assert check.bug_effect["max"] > 100 * DTYPES["float16"].u
    assert check.verdicts["structured"].status == "fail", check.verdicts["structured"].message
    # kron keeps the seed's a aᵀ/D, whose products are float16 subnormals here: it says so
    kron = check.verdicts["kron"]
    assert kron.status == "degenerate" and "subnormals" in kron.message


def test_too_coarse_is_not_passed():
    check = eps_missing(Case(512, 512, dtype="bfloat16", eps=1e-5, seed=1))
    assert "too-coarse" in statuses(check).values()
    assert not check.passed
    assert all(not v.passed for v in check.verdicts.values() if v.status == "too-coarse")
