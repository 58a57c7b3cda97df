"""The reference: higher precision than the case, from the same rounded inputs."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from conftest import eps_id

import gradlab.core.doubledouble
import gradlab.core.precise
import gradlab.problems.seed.metrics as metrics_module
import gradlab.problems.seed.reference as reference_module
from gradlab.core.doubledouble import DD
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.precise import blocks
from gradlab.problems.seed import layer
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.gradients import PARAMS, formula_grads
from gradlab.problems.seed.inputs import case_inputs, draw
from gradlab.problems.seed.metrics import scale_residual, weight_metrics
from gradlab.problems.seed.reference import (
    DOUBLE_DOUBLE,
    FLOAT64_REFERENCE,
    LONGDOUBLE,
    describe_precision,
    longdouble_is_wider,
    reference_grads,
)
from gradlab.problems.seed.report import to_json_dict, to_table

U64 = 2.0**-53


def reference_param(ref, param: str):
    """One whole gradient from the Reference, in its own precision."""
    if param in ref.grads:
        return ref.grads[param]
    # dL/dW kept as its factors Rowsᵀ X
    return layer.d_weight(ref.rows, ref.X)


def as_mpf(value) -> mpmath.mpf:
    """A float64 or longdouble value, exactly."""
    p, q = np.longdouble(value).as_integer_ratio()
    return mpmath.mpf(p) / q


def mp_values(value) -> list:
    """Every entry of a reference array, exactly: a double-double as hi + lo."""
    if isinstance(value, DD):
        return [as_mpf(h) + as_mpf(lo) for h, lo in
                zip(value.hi.ravel(), value.lo_or_zero().ravel())]
    return [as_mpf(v) for v in np.asarray(value).ravel()]


def mp_grads(inputs, placement: str) -> dict:
    """The correct gradients in mpmath (60 digits), straight from the formulas."""
    with mpmath.workdps(60):
        W = [[as_mpf(v) for v in row] for row in inputs.W.tolist()]
        X = [[as_mpf(v) for v in row] for row in inputs.X.tolist()]
        g = [as_mpf(v) for v in inputs.g.tolist()]
        b = [as_mpf(v) for v in inputs.b.tolist()]
        eps = as_mpf(float(inputs.eps))
        m, n = len(W), len(W[0])
        dW = [[mpmath.mpf(0)] * n for _ in range(m)]
        dx, dg_, db = [], [mpmath.mpf(0)] * m, [mpmath.mpf(0)] * m
        for x in X:
            a = [mpmath.fsum(W[i][j] * x[j] for j in range(n)) for i in range(m)]
            ms = mpmath.fsum(ai**2 for ai in a) / m
            r = mpmath.sqrt(ms)
            u = mpmath.sqrt(ms + eps) if placement == "inside" else r + eps
            D = m * u**2 if placement == "inside" else m * r * u
            v = [g[i] * a[i] / u + b[i] for i in range(m)]
            d = [2 * vi for vi in v]
            dg = [d[i] * g[i] for i in range(m)]
            adg = mpmath.fsum(a[i] * dg[i] for i in range(m))
            row = [(dg[i] - a[i] * adg / D) / u for i in range(m)]
            for i in range(m):
                for j in range(n):
                    dW[i][j] += row[i] * x[j]
                dg_[i] += d[i] * a[i] / u
                db[i] += d[i]
            dx.append([mpmath.fsum(row[i] * W[i][j] for i in range(m)) for j in range(n)])
        return {"W": dW, "x": dx, "g": dg_, "b": db}


def flat(value):
    if isinstance(value, (list, tuple)):
        return [y for x in value for y in flat(x)]
    return [value]


@pytest.mark.skipif(not longdouble_is_wider(), reason="longdouble is float64 on this platform")
def test_longdouble_is_wider_than_float64_here():
    """Where longdouble is wider than float64 (x87 80-bit here, unit roundoff 2⁻⁶⁴),
    the float64 reference keeps it."""
    assert np.finfo(np.longdouble).eps <= 2.0**-63
    assert FLOAT64_REFERENCE == LONGDOUBLE


def test_a_longdouble_that_is_float64_is_not_wider():
    """Windows and macOS arm64: np.longdouble is float64, so the reference falls back
    to double-double rather than calling float64 'longdouble'."""
    assert not longdouble_is_wider(np.finfo(np.float64))
    assert longdouble_is_wider(np.finfo(np.longdouble)) == (
        np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant)


@pytest.mark.parametrize("precision, words", [
    ("float64", ["float64", "2⁻⁵³"]),
    (DOUBLE_DOUBLE, ["double-double", "hi + lo", "2⁻¹⁰⁶"]),
    (LONGDOUBLE, ["longdouble", "u = 2⁻"]),
])
def test_each_precision_is_described_with_its_unit_roundoff(precision, words):
    text = describe_precision(precision)
    assert all(w in text for w in words), text


@pytest.mark.skipif(np.finfo(np.longdouble).nmant != 63, reason="longdouble is not x87 here")
def test_x87_longdouble_is_described_as_such():
    assert describe_precision(LONGDOUBLE) == "longdouble (x87 80-bit, u = 2⁻⁶⁴)"


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_reference_precision_per_dtype(dtype, checked):
    expected = FLOAT64_REFERENCE if dtype == "float64" else "float64"
    assert reference_grads(case_inputs(Case(3, 4, dtype=dtype)), "inside").precision == expected
    check = checked(Case(16, 16, dtype=dtype))
    assert check.reference.precision == expected
    assert check.to_row()["reference_precision"] == expected


MP_CASES = [
    pytest.param(m, n, batch, eps, placement, id=f"m{m}n{n}b{batch}-eps{eps:g}-{placement}")
    for m, n, batch in [(1, 1, 1), (2, 3, 1), (3, 2, 2), (4, 4, 1), (5, 3, 3)]
    for eps in (0.0, 1e-5)
    for placement in ("inside", "outside")
]


def assert_agrees_with_mpmath(ref, inputs, placement, tolerance):
    """Every gradient of ``ref`` within ``tolerance`` × u of float64 of mpmath's."""
    exact = mp_grads(inputs, placement)
    m = inputs.W.shape[0]
    with mpmath.workdps(60):
        for param in PARAMS:
            want = flat(exact[param])
            got = mp_values(reference_param(ref, param))
            assert len(got) == len(want)
            # relative to the gradient; for m = 1, to its terms: dL/dW and dL/dx
            # cancel exactly with ε = 0 and nearly (κ ~ 10³) with ε > 0
            scale = ref.terms["max"] if m == 1 else max(abs(w) for w in want)
            diff = max(abs(x - y) for x, y in zip(got, want))
            assert diff / scale <= tolerance * U64, (param, float(diff / scale / U64))


@pytest.mark.parametrize("m, n, batch, eps, placement", MP_CASES)
def test_longdouble_reference_agrees_with_mpmath(m, n, batch, eps, placement):
    inputs = case_inputs(Case(m, n, batch, "float64", eps, placement, seed=m + n))
    ref = reference_grads(inputs, placement, float64_reference=LONGDOUBLE)
    assert_agrees_with_mpmath(ref, inputs, placement, 1e-2)


@pytest.mark.parametrize("m, n, batch, eps, placement", MP_CASES)
def test_double_double_reference_agrees_with_mpmath(m, n, batch, eps, placement):
    """About 2⁻¹⁰⁶ per operation: within 1e-12 u of float64 (longdouble: 1e-2 u)."""
    inputs = case_inputs(Case(m, n, batch, "float64", eps, placement, seed=m + n))
    ref = reference_grads(inputs, placement, float64_reference=DOUBLE_DOUBLE)
    assert ref.precision == DOUBLE_DOUBLE
    assert_agrees_with_mpmath(ref, inputs, placement, 1e-12)


def small_blocks(monkeypatch) -> None:
    """Blocks of a few rows of W (the last one ragged), and matmul chunks of a few rows."""
    monkeypatch.setattr(gradlab.core.precise, "BLOCK_ENTRIES", 21)  # 3 rows of 7
    monkeypatch.setattr(gradlab.core.precise, "WIDEN_ENTRIES", 28)  # 4 rows
    monkeypatch.setattr(reference_module, "WIDEN_ENTRIES", 28)
    monkeypatch.setattr(gradlab.core.doubledouble, "MATMUL_CHUNK", 20)


@pytest.mark.parametrize("batch", [1, 3], ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("placement", ["inside", "outside"])
def test_blocked_double_double_reference_agrees_with_mpmath(batch, placement, monkeypatch):
    small_blocks(monkeypatch)
    assert len(list(blocks(13, 7))) == 5
    inputs = case_inputs(Case(13, 7, batch, "float64", 1e-5, placement, seed=5))
    ref = reference_grads(inputs, placement, float64_reference=DOUBLE_DOUBLE)
    assert_agrees_with_mpmath(ref, inputs, placement, 1e-12)


def reference_values(ref, param: str) -> np.ndarray:
    """A gradient of the reference as float64 hi + lo pairs, stacked (hi, lo)."""
    if param == "W":
        parts = [ref.weight_parts(sl) for sl in blocks(*ref.shape)]
        return np.stack([np.concatenate([p[0].numpy() for p in parts]),
                         np.concatenate([(p[1] if p[1] is not None else 0 * p[0]).numpy()
                                         for p in parts])])
    value = ref.grads[param]
    if isinstance(value, DD):
        return np.stack([value.hi, value.lo_or_zero()])
    hi = value.astype(np.float64)
    return np.stack([hi, (value - hi).astype(np.float64)])


LONG_CASES = [
    pytest.param(m, n, batch, placement, eps,
                 id=f"m{m}n{n}b{batch}-{placement}-{eps_id(eps)}")
    for m, n, eps_list in [(4, 3, (0.0, 1e-5)), (600, 500, (1e-5,))]
    for batch in (1, 3)
    for placement in ("inside", "outside")
    for eps in eps_list
]


@pytest.mark.parametrize("m, n, batch, placement, eps", LONG_CASES)
def test_double_double_reference_agrees_with_longdouble(m, n, batch, placement, eps):
    """The fallback against longdouble, on sizes of one and of several blocks
    (600 × 500 spans five comparison blocks and two widening blocks): within 1e-2 u
    of float64 of the gradient (longdouble's own error), with the same term scale."""
    inputs = case_inputs(Case(m, n, batch, "float64", eps, placement, seed=m + batch))
    long = reference_grads(inputs, placement, float64_reference=LONGDOUBLE)
    dd = reference_grads(inputs, placement, float64_reference=DOUBLE_DOUBLE)
    for param in PARAMS:
        got, want = reference_values(dd, param), reference_values(long, param)
        scale = dd.max_abs(param)
        diff = np.abs((got[0] - want[0]) + (got[1] - want[1])).max()
        assert diff / scale <= 1e-2 * U64, (param, diff / scale / U64)
        if param != "W":
            assert dd.max_abs(param) == pytest.approx(long.max_abs(param), rel=1e-15)
    peak, fro = dd.distance(long)
    assert peak / dd.max_abs("W") <= 1e-2 * U64
    assert fro / dd.fro("W") <= 1e-2 * U64
    for norm in ("max", "fro"):
        assert dd.terms[norm] == pytest.approx(long.terms[norm], rel=1e-12)


@pytest.mark.parametrize("variant", [None, "wrong-mean", "transposed"])
def test_a_check_on_the_double_double_reference(variant, monkeypatch):
    """The whole check, forced onto the fallback: the same errors, κ and bug effect
    as on longdouble, and 'double-double' in the row, the JSON and the table."""
    case = Case(24, 40, 3, "float64", 1e-5, seed=2)
    on_long = run_check(case, variant=variant)
    monkeypatch.setattr(reference_module, "FLOAT64_REFERENCE", DOUBLE_DOUBLE)
    on_dd = run_check(case, variant=variant)
    assert on_long.reference.precision == FLOAT64_REFERENCE
    assert on_dd.reference.precision == DOUBLE_DOUBLE
    assert on_dd.to_row()["reference_precision"] == DOUBLE_DOUBLE
    assert to_json_dict(on_dd)["reference_precision"] == DOUBLE_DOUBLE
    assert "reference in double-double (float64 hi + lo" in to_table(on_dd)
    for name in on_long.runs:
        # each method's error is ~1 u of float64; the two references differ by ≪ 1e-2 u
        assert on_dd.errors[name]["W"].err_u == pytest.approx(
            on_long.errors[name]["W"].err_u, abs=1e-2)
        for param in ("x", "g", "b"):
            if param in on_long.errors[name]:
                assert on_dd.errors[name][param].err_u == pytest.approx(
                    on_long.errors[name][param].err_u, abs=1e-2)
    assert on_dd.kappa == pytest.approx(on_long.kappa, rel=1e-12)
    if variant is not None:
        assert on_dd.bug_effect == pytest.approx(on_long.bug_effect, rel=1e-12)
        assert {v.status for v in on_dd.verdicts.values()} == {"fail"}
    else:
        assert {v.status for v in on_dd.verdicts.values()} == {"pass"}


@pytest.mark.parametrize("placement", ["inside", "outside"])
def test_float64_reference_would_hide_float64_error(placement):
    """In a float64 case the methods' own error is visible (non-zero), because the
    reference is wider; it stays a few tens of u."""
    errs = []
    for seed in range(4):
        check = run_check(Case(8, 8, dtype="float64", eps_placement=placement, seed=seed),
                          methods=("autograd", "structured"))
        errs += [check.errors[m]["W"].err_u for m in check.runs]
    assert max(errs) > 0
    assert max(errs) < 100


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_reference_uses_the_rounded_inputs(dtype):
    """The reference is the float64 computation on the case's rounded inputs, not on
    the unrounded draws: only arithmetic error is measured."""
    case = Case(6, 5, 2, dtype, 1e-5, seed=2)
    inputs = case_inputs(case)
    ref = reference_grads(inputs, case.eps_placement)
    wide = inputs.to(torch.float64)
    on_rounded = formula_grads(*vars(wide).values(), case.eps_placement)
    raw = draw(6, 5, 2, seed=2, eps=1e-5)
    on_raw = formula_grads(*vars(raw).values(), case.eps_placement)
    for param in PARAMS:
        got = torch.as_tensor(np.asarray(reference_param(ref, param), dtype=np.float64))
        assert torch.allclose(got, on_rounded[param], rtol=1e-13, atol=0), param
    got_W = torch.as_tensor(np.asarray(reference_param(ref, "W"), dtype=np.float64))
    assert not torch.allclose(got_W, on_raw["W"], rtol=1e-9, atol=0)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_reference_error_and_max_abs(dtype):
    case = Case(5, 4, 2, dtype, seed=1)
    inputs = case_inputs(case)
    ref = reference_grads(inputs, case.eps_placement)
    for param in PARAMS:
        exact = np.asarray(reference_param(ref, param), dtype=np.float64)
        assert ref.max_abs(param) == pytest.approx(np.abs(exact).max(), rel=1e-15)
        # a gradient off by δ in one entry has error δ (to rounding of the difference)
        shifted = torch.as_tensor(exact).clone()
        delta = 0.25 * float(np.abs(exact).max())
        shifted.view(-1)[0] += delta
        peak, fro = ref.error(param, shifted)
        assert peak == pytest.approx(delta, rel=1e-12)
        assert fro == pytest.approx(delta, rel=1e-9)  # the other entries are exact


def test_reference_of_a_variant_is_what_that_mistake_computes():
    inputs = case_inputs(Case(4, 4, 1, "float32", 1e-5, seed=3))
    wrong = reference_grads(inputs, "inside", "no-projection")
    wide = inputs.to(torch.float64)
    expected = formula_grads(*vars(wide).values(), "inside", "no-projection")["W"]
    got = torch.as_tensor(np.asarray(reference_param(wrong, "W"), dtype=np.float64))
    assert torch.allclose(got, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
def test_kappa_is_at_least_one(dtype, seed, checked):
    check = checked(Case(16, 16, dtype=dtype, seed=seed))
    assert check.kappa >= 1.0
    assert math.isfinite(check.kappa)


def test_kappa_is_large_when_the_gradient_cancels():
    """κ = term scale / max|dL/dW| grows when dg is nearly parallel to a, so that
    dL/dW is small beside its terms: m = 2, n = 3, seed 12 is such a draw."""
    check = run_check(Case(2, 3, dtype="float64", seed=12), methods=("structured",))
    ordinary = run_check(Case(2, 3, dtype="float64", seed=2), methods=("structured",))
    assert check.kappa > 100 * ordinary.kappa and check.kappa_fro > 100 * ordinary.kappa_fro
    assert ordinary.kappa < 20


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("batch", [1, 3], ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("fused_blocks", [1, 2, 4], ids=lambda f: f"fused{f}")
def test_the_fused_weight_pass_gives_the_one_method_numbers(dtype, batch, fused_blocks,
                                                            monkeypatch):
    """weight_metrics (one blocked pass for every method, FUSED_BLOCKS blocks a step)
    against the plain, one-method definitions, bit for bit, on a W that spans several
    blocks (3: steps of 1, of 2 and 1, of 3)."""
    monkeypatch.setattr(metrics_module, "FUSED_BLOCKS", fused_blocks)
    check = run_check(Case(300, 500, batch, dtype, seed=3))
    assert len(list(blocks(300, 500))) == 3
    grads = {name: run.grads["W"] for name, run in check.runs.items()}
    fused = weight_metrics(check.reference, check.inputs.W, grads, residual=True)
    exact = check.reference.to_float64("W")  # rounded once; errors here are ≫ that rounding
    auto = grads["autograd"].double()
    for name, G in grads.items():
        peak, fro = check.reference.error("W", G)
        assert fused.abs_err[name] == peak
        assert fused.fro_abs[name] == fro
        assert fused.residual[name] == scale_residual(G, check.inputs.W)
        assert fused.fro_abs[name] == pytest.approx(
            float(np.linalg.norm(G.double().numpy() - exact)), rel=1e-3)
        assert fused.abs_err[name] == pytest.approx(
            float(np.abs(G.double().numpy() - exact).max()), rel=1e-3)
        if name != "autograd":
            # (G − ref) − (G_autograd − ref): in float64 each side rounds once more
            assert fused.max_abs_diff[name] == pytest.approx(
                float((G.double() - auto).abs().max()), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocked_reference_is_the_whole_computation(dtype, monkeypatch):
    """The reference widens W, forms dL/dW and compares a block of rows at a time;
    with blocks of a few rows (the last one ragged) it gives what one block gives."""
    case = Case(13, 7, 2, dtype, 1e-3, seed=6)
    inputs = case_inputs(case)
    whole = reference_grads(inputs, "inside")
    G = run_check(case, methods=("structured",)).runs["structured"].grads["W"]
    monkeypatch.setattr(gradlab.core.precise, "BLOCK_ENTRIES", 21)  # 3 rows of 7
    monkeypatch.setattr(gradlab.core.precise, "WIDEN_ENTRIES", 28)  # 4 rows
    assert len(list(blocks(13, 7))) == 5
    blocked = reference_grads(inputs, "inside")
    for param in PARAMS:
        got = np.asarray(reference_param(blocked, param), dtype=np.float64)
        want = np.asarray(reference_param(whole, param), dtype=np.float64)
        assert np.abs(got - want).max() <= 1e-14 * np.abs(want).max(), param
    assert blocked.error("W", G) == pytest.approx(whole.error("W", G), rel=1e-9)
    fused = weight_metrics(blocked, inputs.W, {"autograd": G}, residual=True)
    assert fused.abs_err["autograd"] == pytest.approx(whole.error("W", G)[0], rel=1e-9)
    assert fused.fro_abs["autograd"] == pytest.approx(whole.error("W", G)[1], rel=1e-9)
