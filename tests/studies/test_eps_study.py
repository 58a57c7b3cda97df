"""gradlab.epsilon: the ε study, its flags and its charts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dashboard.epsilon import EpsilonView
from gradlab.charts.epsilon import error_chart, log_domain, magnitude_chart
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.problems.seed.gradients import METHODS
from gradlab.studies.epsilon import (
    FLAGS,
    EpsStudy,
    backward_nonfinite,
    eps_label,
    eps_rounds_to_zero,
    eps_study,
    error_frame,
    flag_frame,
)

#: float16 at a tiny activation scale: the documented pitfalls (m = n = 16).
TINY = EpsStudy(m=16, n=16, dtypes=("bfloat16", "float16"), eps=(0.0, 1e-8, 1e-6),
                placements=("inside",), scales=(1e-4,))


@pytest.fixture(scope="module")
def tiny():
    return eps_study(TINY)


@pytest.fixture(scope="module")
def grid():
    """A small full grid: every dtype, both placements, two scales."""
    return eps_study(EpsStudy(m=4, n=4, eps=(0.0, 1e-8, 1e-5), scales=(1.0, 1e-4)))


def flags_at(frame, dtype, eps):
    flags = flag_frame(frame)
    return set(flags[(flags["dtype"] == dtype) & (flags["eps"] == eps)]["flag"])


@pytest.mark.parametrize("eps, dtype, expected", [
    (1e-8, "float16", True), (1e-12, "float16", True), (1e-6, "float16", False),
    (1e-8, "bfloat16", False), (1e-12, "float32", False), (0.0, "float16", False),
], ids=lambda v: str(v))
def test_eps_rounds_to_zero(eps, dtype, expected):
    assert eps_rounds_to_zero(eps, dtype) is expected


@pytest.mark.parametrize("abs_err, kind", [(math.nan, "NaN"), (math.inf, "inf"), (1.0, "")],
                         ids=["nan", "inf", "finite"])
def test_backward_kind_is_read_from_the_error(abs_err, kind):
    assert backward_nonfinite(abs_err) == kind


def test_eps_labels():
    assert [eps_label(e) for e in (0.0, 1e-12, 1e-8, 1e-6, 1e-3)] == \
        ["0", "1e-12", "1e-8", "1e-6", "1e-3"]


def test_float16_at_tiny_scale_gives_nan_below_1e_8(tiny):
    assert flags_at(tiny, "float16", 0.0) >= {"u underflows to 0", "backward NaN"}
    assert flags_at(tiny, "float16", 1e-8) >= {"ε rounds to 0", "u underflows to 0",
                                               "backward NaN"}


def test_float16_autograd_overflows_to_inf_at_1e_6(tiny):
    flags = flag_frame(tiny)
    inf = flags[(flags["dtype"] == "float16") & (flags["eps"] == 1e-6)
                & (flags["flag"] == "backward inf")]
    assert len(inf) == 1 and "autograd" in inf.iloc[0]["detail"]
    row = tiny[(tiny["dtype"] == "float16") & (tiny["eps"] == 1e-6)].iloc[0]
    assert row["autograd_backward"] == "inf" and row["autograd_nonfinite"] > 0


def test_bfloat16_has_none_of_these_problems(tiny):
    assert flag_frame(tiny).query("dtype == 'bfloat16'").empty


def test_flagged_points_stay_in_the_rows(tiny):
    assert len(tiny) == TINY.points
    f16 = tiny[tiny["dtype"] == "float16"]
    assert len(f16) == len(TINY.eps), "no point is dropped for being non-finite"
    assert f16["autograd_rel_err"].isna().any(), "the non-finite points are kept, as NaN"


def test_study_covers_the_grid(grid):
    assert len(grid) == 4 * 2 * 3 * 2
    assert set(grid["dtype"]) == set(DTYPE_NAMES)
    for method in METHODS:
        assert f"{method}_rel_err" in grid and f"{method}_backward" in grid


def test_magnitude_is_the_exact_gradient(grid):
    assert (grid["ref_max_abs"] > 0).all()


def test_error_frame_is_long(grid):
    errors = error_frame(grid, ("autograd", "kron"))
    assert len(errors) == 2 * len(grid)
    assert set(errors["method"]) == {"autograd", "kron"}


@given(st.lists(st.floats(1e-30, 1e30), min_size=1, max_size=30))
@example([9.99999999999996e29])  # log10 rounds it to 30.0: the decade below must hold it
@example([1.0000000000000002e-30])
def test_log_domain_spans_the_finite_values_in_whole_decades(values):
    low, high = log_domain(pd.Series(values + [math.nan, math.inf, 0.0]))
    assert low <= min(values) and high >= max(values) and high / low >= 10 * (1 - 1e-12)
    assert math.log10(low) == round(math.log10(low))


def views(spec: dict):
    """Every single view (a dict with a mark) in a composed spec."""
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "mark" in node:
                yield node
            stack.extend(v for k, v in node.items() if k not in ("encoding", "datasets"))
        elif isinstance(node, list):
            stack.extend(node)


@pytest.mark.parametrize("make", [error_chart, magnitude_chart], ids=["error", "magnitude"])
def test_flags_sit_in_a_strip_of_their_own_never_on_the_data_axis(tiny, make):
    spec = make(tiny).to_dict()
    marks = list(views(spec))
    flagged = [v for v in marks if v["encoding"].get("shape", {}).get("field") == "flag"]
    data = [v for v in marks if v not in flagged]
    assert flagged and data
    for view in flagged:
        assert view["encoding"]["y"]["field"] == "flag"
        assert view["encoding"]["y"]["type"] == "nominal", "a row per kind, not a value"
        assert view["encoding"]["shape"]["scale"]["domain"] == [
            k for k in FLAGS if k in set(flag_frame(tiny)["flag"])]
    for view in data:
        assert view["encoding"]["y"]["field"] == "value"
        assert view["encoding"]["y"]["scale"]["type"] == "log"
    domains = {tuple(v["encoding"]["y"]["scale"]["domain"]) for v in data}
    assert len(domains) == 1, "every panel on one y range"
    drawn = {row["flag"] for ds in spec["datasets"].values() for row in ds if "flag" in row}
    assert drawn == set(flag_frame(tiny)["flag"])
    offsets = [v["encoding"]["xOffset"]["field"] for v in marks]
    assert set(offsets) == {"dtype"}, "the dtypes side by side within each ε"


def test_values_and_flags_do_not_share_a_data_set(tiny):
    spec = magnitude_chart(tiny).to_dict()
    for rows in spec["datasets"].values():
        if rows and "flag" not in rows[0]:
            assert all(math.isfinite(r["value"]) and r["value"] > 0 for r in rows)


def test_chart_colours_are_the_dtype_colours_of_the_dtypes_drawn(tiny):
    from gradlab.charts.style import DTYPE_COLORS
    text = str(error_chart(tiny).to_dict())
    assert DTYPE_COLORS["bfloat16"] in text and DTYPE_COLORS["float16"] in text
    assert DTYPE_COLORS["float64"] not in text, "the legend lists only the dtypes drawn"


def test_guard_refuses_before_any_work():
    study = EpsStudy(m=4, n=4)
    with pytest.raises(GradlabError, match="144 points, over the limit of 10 points"):
        eps_study(study, Limits(max_points=10))
    with pytest.raises(GradlabError, match="memory budget"):
        eps_study(EpsStudy(m=256, n=256), Limits(case_bytes=1024))


@pytest.mark.parametrize("kwargs, match", [
    ({"dtypes": ()}, "dtypes"),
    ({"placements": ("middle",)}, "placements"),
    ({"methods": ("magic",)}, "methods"),
    ({"eps": ()}, "eps"),
    ({"scales": (0.0,)}, "scales: each must be > 0"),
    ({"m": 0}, "m: each must be ≥ 1"),
], ids=["no-dtype", "bad-placement", "bad-method", "no-eps", "zero-scale", "zero-m"])
def test_study_validates(kwargs, match):
    with pytest.raises(GradlabError, match=match):
        EpsStudy(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"m": 10_000}, "m must be ≤"), ({"fd_m": 33}, "fd_m must be ≤"),
    ({"dtypes": ()}, "dtypes"),
], ids=["m", "fd_m", "dtypes"])
def test_view_validates(kwargs, match):
    with pytest.raises(GradlabError, match=match):
        EpsilonView(**kwargs)


def test_view_builds_both_studies():
    view = EpsilonView(m=8, fd_m=4, dtypes=("float32",), fd_eps=1e-5)
    assert view.study().m == view.study().n == 8
    assert view.step_study().m == 4 and view.step_study().eps == 1e-5
    assert np.isfinite(view.step_study().steps).all()


def test_the_underflow_flag_reads_the_structured_column_not_the_notes(tiny):
    """flag_frame reads ``u_underflow`` (tokens whose u is 0, a sweep column), never
    the wording of a note: a note that says so without the count raises no flag,
    and the count raises it whatever the notes say."""
    f16 = tiny[tiny["dtype"] == "float16"]
    assert (f16["u_underflow"] > 0).any(), "the tiny scale underflows u in float16"
    reworded = tiny.assign(notes="")
    assert "u underflows to 0" in set(flag_frame(reworded)["flag"])
    silent = tiny.assign(u_underflow=0, notes="u underflows to 0 in float16")
    assert "u underflows to 0" not in set(flag_frame(silent)["flag"])
