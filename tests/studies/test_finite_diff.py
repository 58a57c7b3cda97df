"""gradlab.finite_diff: the central difference, the V curve, its optimum and chart."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.charts.finite_diff import v_curve_chart
from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.core.errors import GradlabError
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.inputs import case_inputs
from gradlab.problems.seed.reference import reference_grads
from gradlab.studies.finite_diff import (
    MAX_ENTRIES,
    StepStudy,
    central_difference,
    machine_eps,
    optimum,
    step_study,
    theory_step,
)


@pytest.fixture(scope="module")
def study():
    """The page's default study: m = n = 8, every dtype, ε = 0."""
    return step_study(StepStudy())


def exact(case: Case) -> np.ndarray:
    return reference_grads(case_inputs(case), case.eps_placement).to_float64("W")


@pytest.mark.parametrize("dtype, expected", [("float64", 6.1e-6), ("float32", 4.9e-3)],
                         ids=["float64", "float32"])
def test_theory_step_is_the_cube_root_of_machine_eps(dtype, expected):
    assert machine_eps(dtype) == 2 * dtype_info(dtype).u
    assert theory_step(dtype) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_v_curve_minimum_is_within_a_decade_of_theory(study, dtype):
    best = optimum(study).set_index("dtype").loc[dtype]
    assert abs(math.log10(best["h_best"] / theory_step(dtype))) <= 1.0, best


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_curve_is_a_v(study, dtype):
    """Error falls to the optimum and rises after it, by orders of magnitude."""
    rows = study[study["dtype"] == dtype].sort_values("h")
    best = rows["rel_err"].min()
    left = rows[rows["h"] <= rows.loc[rows["rel_err"].idxmin(), "h"] / 100]
    right = rows[rows["h"] >= rows.loc[rows["rel_err"].idxmin(), "h"] * 100]
    assert left["rel_err"].max() > 100 * best
    assert right["rel_err"].max() > 100 * best


def test_float32_best_is_far_worse_than_its_u(study):
    """Why finite differences mislead in float32: the best step is ~1e-4 relative."""
    best = optimum(study).set_index("dtype").loc["float32", "rel_err_best"]
    assert best > 100 * dtype_info("float32").u


def test_float64_best_is_accurate(study):
    best = optimum(study).set_index("dtype").loc["float64", "rel_err_best"]
    assert best < 1e-8


@pytest.mark.parametrize("dtype, h", [("float32", 1e-12), ("float32", 1e-10),
                                      ("float16", 1e-6), ("bfloat16", 1e-5)],
                         ids=lambda v: str(v))
def test_w_plus_h_equals_w_gives_a_zero_estimate(dtype, h):
    inputs = case_inputs(Case(m=4, n=5, dtype=dtype))
    assert bool(((inputs.W + h) == inputs.W).all())
    est = central_difference(inputs, "inside", h)
    assert (est == 0).all()


def test_zero_region_is_flagged_in_the_study(study):
    f32 = study[study["dtype"] == "float32"]
    assert f32[f32["h"] <= 1e-10]["zero_estimate"].all()
    assert not f32[f32["h"] >= 1e-6]["zero_estimate"].any()
    assert np.allclose(f32[f32["zero_estimate"]]["rel_err"], 1.0)


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 6), seed=st.integers(0, 10_000),
       placement=st.sampled_from(["inside", "outside"]),
       eps=st.sampled_from([0.0, 1e-5, 1e-2]))
def test_float64_estimate_agrees_with_the_exact_gradient(m, n, seed, placement, eps):
    case = Case(m=m, n=n, dtype="float64", eps=eps, eps_placement=placement, seed=seed)
    ref = exact(case)
    est = central_difference(case_inputs(case), placement, theory_step("float64"))
    scale = max(float(np.abs(ref).max()), 1.0)
    assert np.abs(est - ref).max() <= 1e-6 * scale


def test_every_forward_pass_runs_in_the_dtype():
    """float16's estimate differs from float64's at the same step (it was not upcast)."""
    h = 1e-2
    e16 = central_difference(case_inputs(Case(m=4, n=4, dtype="float16")), "inside", h)
    e64 = central_difference(case_inputs(Case(m=4, n=4, dtype="float16"))
                             .to(dtype_info("float64").torch_dtype), "inside", h)
    assert not np.array_equal(e16, e64)


@pytest.mark.parametrize("h", [0.0, -1e-3, math.inf, math.nan], ids=str)
def test_bad_step_is_refused(h):
    with pytest.raises(GradlabError, match="h must be"):
        central_difference(case_inputs(Case(m=2, n=2)), "inside", h)


@pytest.mark.parametrize("kwargs, match", [
    ({"m": 40, "n": 40}, f"m·n ≤ {MAX_ENTRIES}"),
    ({"dtypes": ()}, "dtypes"),
    ({"dtypes": ("float8",)}, "dtype must be one of"),
    ({"steps": ()}, "steps"),
    ({"steps": (1e-3, -1.0)}, "step h"),
    ({"eps": -1.0}, "eps must be"),
], ids=["too-big", "no-dtypes", "bad-dtype", "no-steps", "negative-step", "bad-eps"])
def test_study_validates(kwargs, match):
    with pytest.raises(GradlabError, match=match):
        StepStudy(**kwargs)


def test_study_rows_cover_every_dtype_and_step(study):
    assert list(dict.fromkeys(study["dtype"])) == list(DTYPE_NAMES)
    assert len(study) == len(DTYPE_NAMES) * len(StepStudy().steps)


def test_chart_is_log_log_with_theory_and_optimum(study):
    spec = v_curve_chart(study).to_dict()
    layers = spec["layer"]
    assert layers[0]["encoding"]["x"]["scale"]["type"] == "log"
    assert layers[0]["encoding"]["y"]["scale"]["type"] == "log"
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in layers]
    assert "rule" in marks, "ε_mach^(1/3) is drawn"
    diamonds = [layer for layer in layers
                if isinstance(layer["mark"], dict) and layer["mark"].get("shape") == "diamond"]
    assert diamonds, "the measured optimum is drawn"
    assert all("tooltip" in layer["encoding"] for layer in layers)
    colors = layers[0]["encoding"]["color"]["scale"]
    assert colors["domain"] == list(DTYPE_NAMES)
