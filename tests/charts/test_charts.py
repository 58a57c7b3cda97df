"""gradlab.charts: log scales, one colour per dtype, tooltips, honest aggregation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.charts import sweep as charts
from gradlab.charts.finite_diff import v_curve_chart
from gradlab.charts.style import DTYPE_COLORS
from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.core.errors import GradlabError
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.gradients import METHODS
from gradlab.studies.finite_diff import StepStudy, step_study

DIMS = (2, 8, 32, 128)


def synthetic(seed: int = 0, dims=DIMS, dtypes=DTYPE_NAMES, eps=(0.0, 1e-6, 1e-5),
              placements=("inside", "outside"), seeds=(0, 1, 2)) -> pd.DataFrame:
    """Rows shaped like Check.to_row, with random positive errors."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in dims:
        for dtype in dtypes:
            for e in eps:
                for p in placements:
                    for s in seeds:
                        u = dtype_info(dtype).u
                        row = dict(m=d, n=d, batch=1, dtype=dtype, eps=e, eps_placement=p,
                                   scale=1.0, seed=s, preset="", variant="none")
                        for method in METHODS:
                            rel = float(rng.uniform(0.5, 4.0)) * math.sqrt(d) * u
                            row[f"{method}_rel_err"] = rel
                            row[f"{method}_err_u"] = rel / u
                            row[f"{method}_max_abs_diff"] = float(rng.uniform(0.5, 2)) * rel
                        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return synthetic()


def dataset(spec: dict) -> list[dict]:
    """The records of the chart's one inline dataset."""
    assert len(spec["datasets"]) == 1
    return next(iter(spec["datasets"].values()))


def encodings(spec: dict):
    """Every encoding dict in a (possibly faceted, layered) spec."""
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "encoding" in node:
                yield node["encoding"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def all_charts(rows):
    return {
        "max_diff": charts.max_diff_chart(rows, column="eps", row="eps_placement"),
        "error": charts.error_chart(rows),
        "error_u": charts.error_chart(rows, units="u"),
        "float64": charts.float64_chart(rows),
        "overlay": charts.overlay_chart({"a.csv": rows, "b.csv": rows.head(40)}),
    }


CHART_NAMES = ["max_diff", "error", "error_u", "float64", "overlay"]


@pytest.mark.parametrize("name", CHART_NAMES)
def test_every_axis_is_log(rows, name):
    spec = all_charts(rows)[name].to_dict()
    found = 0
    for enc in encodings(spec):
        for channel in ("x", "y"):
            if channel in enc:
                assert enc[channel]["scale"]["type"] == "log", (name, channel, enc[channel])
                found += 1
    assert found >= 2


@pytest.mark.parametrize("name", ["max_diff", "error", "overlay"])
def test_dtype_colours_are_the_shared_table(rows, name):
    spec = all_charts(rows)[name].to_dict()
    colours = [enc["color"] for enc in encodings(spec) if "field" in enc.get("color", {})]
    assert colours
    for color in colours:
        assert color["field"] == "dtype"
        assert color["scale"]["domain"] == list(DTYPE_COLORS)
        assert color["scale"]["range"] == list(DTYPE_COLORS.values())


def test_float64_chart_draws_in_float64s_colour(rows):
    spec = charts.float64_chart(rows).to_dict()
    marks = [layer["mark"] for layer in spec["layer"]]
    drawn = [m for m in marks if m.get("color") == DTYPE_COLORS["float64"]]
    assert sorted(m["type"] for m in drawn) == ["line", "point"]


@pytest.mark.parametrize("name", CHART_NAMES)
def test_every_mark_has_a_tooltip(rows, name):
    spec = all_charts(rows)[name].to_dict()
    encs = list(encodings(spec))
    assert encs and all("tooltip" in enc for enc in encs)


@given(values=st.lists(st.one_of(st.floats(min_value=1e-30, max_value=1e30),
                                 st.sampled_from([0.0, math.inf, -math.inf, math.nan])),
                       min_size=1, max_size=30),
       agg=st.sampled_from(charts.AGGREGATES))
@settings(max_examples=60, deadline=None)
def test_aggregate_uses_only_drawable_points(values, agg):
    groups = [i % 3 for i in range(len(values))]
    df = pd.DataFrame({"n": groups, "dtype": "float32", "v": values})
    out = charts.aggregate(df, "v", ["n", "dtype"], agg)
    for n, group in df.groupby("n"):
        good = [v for v in group["v"] if math.isfinite(v) and v > 0]
        got = out[out["n"] == n]
        if not good:
            assert got.empty
            continue
        expected = {"max": max, "min": min, "median": np.median}[agg](good)
        assert got["v"].item() == pytest.approx(expected, rel=1e-12)
        assert got["points"].item() == len(good)
    counted = charts.undrawable(df, "v")
    assert counted.total == sum(not (math.isfinite(v) and v > 0) for v in values)


def test_undrawable_names_each_reason():
    df = pd.DataFrame({"v": [0.0, 0.0, math.inf, math.nan, 1.0]})
    got = charts.undrawable(df, "v")
    assert (got.zero, got.nonfinite, got.missing) == (2, 1, 1)
    text = got.describe("max |Δ|")
    assert text == ("Not drawn on the log axis, max |Δ|: 2 exactly 0, 1 infinite, "
                    "1 missing (NaN: not run, or overflow).")
    assert charts.undrawable(df.iloc[4:], "v").describe("x") == ""


def test_max_diff_chart_takes_the_worst_seed(rows):
    spec = charts.max_diff_chart(rows, method="kron", column="eps", row="eps_placement").to_dict()
    data = pd.DataFrame(dataset(spec))
    expected = rows.groupby(["n", "dtype", "eps", "eps_placement"])["kron_max_abs_diff"].max()
    assert len(data) == len(expected)
    for _, r in data.iterrows():
        key = (r["n"], r["dtype"], float(r["eps"]), r["eps_placement"])
        assert r["kron_max_abs_diff"] == expected[key]
        assert r["points"] == 3
    assert set(data["eps"]) == {"0", "1e-06", "1e-05"}, "facet headers read like the widgets"
    assert spec["facet"]["column"]["sort"] == ["0", "1e-06", "1e-05"], "in value order"
    assert spec["facet"]["row"]["field"] == "eps_placement"
    assert spec["facet"]["column"]["field"] == "eps"


def test_max_diff_chart_never_aggregates_variants_together(rows):
    zoo = pd.concat([rows, rows.assign(variant="no-projection", structured_max_abs_diff=1.0,
                                       structured_status="fail")], ignore_index=True)
    zoo["structured_status"] = zoo["structured_status"].fillna("pass")
    spec = charts.max_diff_chart(zoo).to_dict()
    data = pd.DataFrame(dataset(spec))
    assert set(data["variant"]) == {"none", "no-projection"}
    none = data[data["variant"] == "none"]
    assert (none["structured_max_abs_diff"] < 0.5).all(), "the bug (1.0) does not lift rounding"
    assert set(none["status"]) == {"pass"} and set(data[data["variant"] != "none"]["status"]) \
        == {"fail"}
    dash = next(e["strokeDash"] for e in encodings(spec) if "strokeDash" in e)
    assert dash["field"] == "variant" and dash["scale"]["range"][0] == [1, 0], "none is solid"
    shape = next(e["shape"] for e in encodings(spec) if "shape" in e)
    assert shape["scale"] == {"domain": ["pass", "fail"], "range": ["circle", "cross"]}


def test_the_legend_lists_only_the_dtypes_drawn(rows):
    two = rows[rows["dtype"].isin(["float16", "float64"])]
    for chart in (charts.max_diff_chart(two), charts.error_chart(two),
                  charts.overlay_chart({"a": two})):
        colors = [e["color"] for e in encodings(chart.to_dict())
                  if isinstance(e.get("color"), dict) and e["color"].get("field") == "dtype"]
        assert colors
        for color in colors:
            assert color["scale"]["domain"] == ["float64", "float16"]
            assert color["scale"]["range"] == [DTYPE_COLORS["float64"], DTYPE_COLORS["float16"]]


def test_the_finite_difference_legend_lists_only_the_dtypes_studied():
    """Issue 20, item 10: with float64 removed on the Epsilon page its step study's
    legend still listed float64 (the colour scale spanned all four dtypes)."""
    steps = step_study(StepStudy(m=4, n=4, dtypes=("float32", "float16"), steps=(1e-2, 1e-3)))
    colors = [e["color"] for e in encodings(v_curve_chart(steps).to_dict())
              if isinstance(e.get("color"), dict) and e["color"].get("field") == "dtype"]
    assert colors
    for color in colors:
        assert color["scale"]["domain"] == ["float32", "float16"]


@pytest.mark.parametrize("x", ["n", "m", "mn"])
def test_max_diff_chart_x_choices(rows, x):
    spec = charts.max_diff_chart(rows, x=x).to_dict()
    assert next(e["x"] for e in encodings(spec) if "x" in e)["field"] == x
    data = pd.DataFrame(dataset(spec))
    expected = {"n": set(DIMS), "m": set(DIMS), "mn": {d * d for d in DIMS}}[x]
    assert set(data[x]) == expected


@pytest.mark.parametrize("kwargs, parameter", [
    ({"method": "autograd"}, "method"),
    ({"x": "batch"}, "x"),
    ({"agg": "mean"}, "agg"),
    ({"row": "seed"}, "row"),
    ({"row": "eps", "column": "eps"}, "row and column"),
], ids=["method", "x", "agg", "facet", "same-facet"])
def test_bad_choices_name_the_parameter(rows, kwargs, parameter):
    with pytest.raises(GradlabError, match=parameter):
        charts.max_diff_chart(rows, **kwargs)


def test_missing_column_is_a_clear_error(rows):
    with pytest.raises(GradlabError, match="structured_max_abs_diff"):
        charts.max_diff_chart(rows.drop(columns=["structured_max_abs_diff"]))


GUIDE_FACTOR = {"u": lambda n: 1.0, "√n·u": math.sqrt, "n·u": float}


def test_error_chart_has_a_panel_per_dtype_with_its_own_guides(rows):
    spec = charts.error_chart(rows).to_dict()
    data = pd.DataFrame(dataset(spec))
    guides = data[data["kind"] != "error"]
    assert set(guides["kind"]) == {"u", "√n·u", "n·u"}
    for _, g in guides.iterrows():
        u = dtype_info(g["dtype"]).u
        assert g["value"] == pytest.approx(GUIDE_FACTOR[g["kind"]](g["n"]) * u, rel=1e-15)
    assert spec["facet"]["field"] == "dtype" and spec["columns"] == 2
    assert spec["resolve"]["scale"]["y"] == "independent"
    labelled = guides[guides["label"] != ""]
    assert sorted(labelled["kind"]) == sorted(["u", "√n·u", "n·u"] * len(DTYPE_NAMES))
    assert (labelled["n"] == max(DIMS)).all(), "each guide named once, at its right end"
    errors = data[data["kind"] == "error"]
    assert set(errors["dtype"]) == set(DTYPE_NAMES) and set(errors["method"]) == set(METHODS)
    shape = next(e["shape"] for e in encodings(spec) if "shape" in e)
    assert shape["field"] == "method"


def test_error_chart_in_units_of_u_shares_one_range(rows):
    spec = charts.error_chart(rows, units="u").to_dict()
    data = pd.DataFrame(dataset(spec))
    guides = data[data["kind"] != "error"]
    assert len(guides) == 3 * len(DIMS) * len(DTYPE_NAMES)
    sqrt_guides = guides[guides["kind"] == "√n·u"]
    assert np.allclose(sqrt_guides["value"], np.sqrt(sqrt_guides["n"]))
    assert spec["resolve"]["scale"]["y"] == "shared"


def test_float64_chart_shows_only_float64(rows):
    data = pd.DataFrame(dataset(charts.float64_chart(rows).to_dict()))
    assert set(data["dtype"].dropna()) == {"float64"}
    errors = data[data["kind"] == "error"]
    expected = rows[rows["dtype"] == "float64"].groupby("n")["autograd_rel_err"].max()
    got = errors[errors["method"] == "autograd"].set_index("n")["value"]
    assert got.to_dict() == expected.to_dict()


def test_overlay_encodes_files_by_dash_and_shape(rows):
    frames = {"laptop.csv": rows, "server.csv": rows[rows["dtype"] == "float32"]}
    spec = charts.overlay_chart(frames, metric="rel_err", method="autograd").to_dict()
    enc = spec["encoding"]
    for channel in ("strokeDash", "shape"):
        assert enc[channel]["field"] == "file"
        assert enc[channel]["scale"]["domain"] == ["laptop.csv", "server.csv"]
    data = pd.DataFrame(dataset(spec))
    assert set(data[data["file"] == "server.csv"]["dtype"]) == {"float32"}
    assert set(data[data["file"] == "laptop.csv"]["dtype"]) == set(DTYPE_NAMES)


def test_overlay_draws_each_variant_in_its_own_panel(rows):
    zoo = pd.concat([rows, rows.assign(variant="wrong-mean", structured_max_abs_diff=1.0)],
                    ignore_index=True)
    spec = charts.overlay_chart({"a.csv": zoo, "b.csv": zoo}, width=150).to_dict()
    assert spec["facet"]["column"]["field"] == "variant"
    assert spec["facet"]["column"]["sort"] == ["none", "wrong-mean"]
    assert spec["spec"]["width"] == 150
    data = pd.DataFrame(dataset(spec))
    none = data[data["variant"] == "none"]
    assert (none["structured_max_abs_diff"] < 0.5).all(), "never the max over variants"


def test_overlay_of_nothing_is_an_empty_chart():
    spec = charts.overlay_chart({}).to_dict()
    assert spec["mark"]["type"] == "line"


def test_real_check_rows_chart():
    """The charts read the columns Check.to_row really writes."""
    rows = pd.DataFrame([run_check(Case(d, d, dtype=t, seed=s)).to_row()
                         for d in (2, 16) for t in DTYPE_NAMES for s in (0, 1)])
    for chart in (charts.max_diff_chart(rows), charts.error_chart(rows),
                  charts.float64_chart(rows), charts.overlay_chart({"a": rows})):
        spec = chart.to_dict()
        assert dataset(spec)


def test_log_axes_label_only_powers_of_ten():
    """Vega-Lite's own ticks over two decades read 1e-16, 3e-16, 2e-15, 1e-14 (issue 20);
    style.log_axis labels the powers of ten only. Rendered (vl-convert), not just specified."""
    import re

    import altair as alt
    import pandas as pd
    import vl_convert

    from gradlab.charts.style import log_axis

    data = pd.DataFrame({"n": [1, 2, 3, 4], "err": [1.1e-16, 3e-16, 2e-15, 9e-15]})
    chart = alt.Chart(data).mark_point().encode(
        x="n:Q", y=alt.Y("err:Q", scale=alt.Scale(type="log"), axis=log_axis(title="err")))
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    labels = [t for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg) if "e-" in t]
    assert labels and set(labels) <= {"1e-16", "1e-15", "1e-14"}, labels
    assert len(set(labels)) >= 2
