"""gradlab/charts/verify.py's size chart and |Δ| heat map (pure builders)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from gradlab.charts.heatmaps import MAX_SIDE
from gradlab.charts.style import DTYPE_COLORS
from gradlab.charts.verify import (
    NORM_TITLES,
    delta_heatmap,
    size_chart,
    size_long,
    size_undrawable,
)
from gradlab.problems.library import problem
from gradlab.problems.sizes import size_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    """LayerNorm's planted no-mean mistake at three widths: ∂x fails, ∂weight passes."""
    return size_sweep(problem("layernorm"), "no-mean", (64, 128, 256),
                      ("float32", "bfloat16"), seed=0)


def data_of(spec: dict) -> pd.DataFrame:
    return pd.DataFrame(next(iter(spec["datasets"].values())))


def find(spec, key: str) -> list:
    """Every value of ``key`` anywhere in a spec."""
    found = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key:
                found.append(v)
            found += find(v, key)
    elif isinstance(spec, list):
        for v in spec:
            found += find(v, key)
    return found


def test_size_long_has_a_row_per_size_dtype_norm_and_series(sweep):
    long = size_long(sweep, "x")
    assert len(long) == 3 * 2 * 2 * 2
    assert set(long["series"]) == {"candidate", "threshold"}
    assert set(long["norm"]) == set(NORM_TITLES.values())
    cand = long[(long["series"] == "candidate") & (long["norm"] == NORM_TITLES["max"])]
    rows = sweep[sweep["input"] == "x"]
    assert sorted(cand["value"]) == sorted(rows["err_max"])
    assert np.allclose(cand["value_u"] * cand["u"], cand["value"])


def test_size_chart_has_log_axes_a_panel_per_norm_and_dtype_colours(sweep):
    spec = size_chart(sweep, "x").to_dict()
    assert spec["facet"]["column"]["field"] == "norm"
    scales = [s for s in find(spec, "scale") if isinstance(s, dict)]
    assert sum(s.get("type") == "log" for s in scales) >= 2, "size and error on log axes"
    colors = [s for s in scales if s.get("domain") == ["float32", "bfloat16"]]
    assert colors and colors[0]["range"] == [DTYPE_COLORS["float32"],
                                             DTYPE_COLORS["bfloat16"]]
    assert "∂x" in spec["title"]


def verdict_shapes(spec: dict) -> dict[str, str]:
    """The verdict → marker shape mapping of a chart."""
    (shape,) = [s for s in find(spec, "shape") if isinstance(s, dict) and
                s.get("field") == "status"]
    return dict(zip(shape["scale"]["domain"], shape["scale"]["range"]))


def test_size_chart_marks_each_verdict_by_shape(sweep):
    assert verdict_shapes(size_chart(sweep, "x").to_dict()) == {"fail": "cross"}
    assert verdict_shapes(size_chart(sweep, "weight").to_dict()) == {"pass": "circle"}


def test_size_chart_leaves_out_what_a_log_axis_cannot_draw(sweep):
    zeroed = sweep.copy()
    zeroed.loc[zeroed["input"] == "x", "err_max"] = 0.0
    data = data_of(size_chart(zeroed, "x").to_dict())
    assert (data["value"] > 0).all()
    assert size_undrawable(zeroed, "x").zero == 3 * 2
    assert size_undrawable(sweep, "x").total == 0


def test_delta_heatmap_pools_a_wide_gradient():
    delta = torch.rand(16, 1024, generator=torch.Generator().manual_seed(0),
                       dtype=torch.float64)
    delta[3, 700] = 5.0
    spec = delta_heatmap(delta, "|candidate − truth|").to_dict()
    data = data_of(spec)
    assert len(data) <= MAX_SIDE * MAX_SIDE
    assert spec["title"]["subtitle"] == "16×1024, pooled 1×32"
    assert data["value"].max() == 5.0, "the block keeps its largest |Δ|"
    assert any(s.get("type") == "log" for s in find(spec, "scale") if isinstance(s, dict))


def test_delta_heatmap_of_a_small_gradient_is_not_pooled():
    spec = delta_heatmap(np.array([[0.0, 1e-7], [2e-7, 3e-7]]), "|Δ|").to_dict()
    assert spec["title"] == {"text": "|Δ|"}
    assert len(data_of(spec)) == 4


def test_dtypes_whose_lines_coincide_are_drawn_side_by_side(sweep):
    """Two dtypes with the same errors at every size draw two lines, not one (issue 20,
    item 5): each dtype's points sit at their own x, the tooltip keeps the true size."""
    same = sweep.copy()
    for column in [c for c in same.columns if c.startswith(("err_", "threshold_"))]:
        same[column] = same.groupby(["size", "input"])[column].transform("first")
    data = data_of(size_chart(same, "x").to_dict())
    drawn = data.groupby("dtype")["drawn_at"].apply(tuple)
    assert drawn["float32"] != drawn["bfloat16"], "coinciding lines drawn apart"
    assert (data.groupby("dtype")["size"].apply(tuple).nunique()) == 1, "true sizes kept"
    ratio = data["drawn_at"] / data["size"]
    assert ratio.between(1 / 1.2, 1.2).all(), "side by side, not moved to another size"
