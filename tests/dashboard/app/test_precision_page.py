"""AppTest of the Precision page (views/precision.py)."""

from __future__ import annotations

import math

import pytest
from apptest_helpers import assert_clean, chart_data, has_log_scale, page, specs

from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import cached_sweep

K = "precision."
#: Small sizes keep each run near a second; the page's default goes to 512.
SMALL = {"dims": "2..32"}
SMALL_SWEEP = Sweep(dims=(2, 4, 8, 16, 32), dtypes=DTYPE_NAMES, seeds=(0, 1, 2))


def opened(params: dict | None = None):
    at = page("precision")
    at.query_params.update(params or {})
    return at.run()


@pytest.fixture(scope="module")
def small():
    return opened(SMALL)


def test_default_renders_with_a_clean_url():
    at = page("precision").run(timeout=180)
    assert_clean(at)
    assert dict(at.query_params) == {}
    assert at.text_input(key=K + "dims").value == "2..512"
    assert len(at.get("vega_lite_chart")) == 2


def test_charts_carry_log_scales(small):
    assert_clean(small)
    error_spec, float64_spec = specs(small)
    for spec in (error_spec, float64_spec):
        assert has_log_scale(spec)
        axes = [layer["encoding"][c]["scale"]["type"] for layer in
                spec.get("spec", spec)["layer"] for c in ("x", "y")]
        assert set(axes) == {"log"}


def test_every_dtype_has_a_panel_and_every_method_a_line(small):
    spec = specs(small)[0]
    assert spec["facet"]["field"] == "dtype"
    data = chart_data(small, 0)[0]
    errors = data[data["kind"] == "error"]
    assert set(errors["method"]) == {"autograd", "structured", "kron"}
    assert set(errors["dtype"]) == set(DTYPE_NAMES)


def test_guides_are_u_sqrt_n_u_and_n_u_in_each_dtype_s_panel(small):
    data = chart_data(small, 0)[0]
    guides = data[data["kind"] != "error"]
    assert set(guides["kind"]) == {"u", "√n·u", "n·u"}
    factor = {"u": lambda n: 1, "√n·u": math.sqrt, "n·u": lambda n: n}
    for _, g in guides.iterrows():
        expected = factor[g["kind"]](g["n"]) * dtype_info(g["dtype"]).u
        assert g["value"] == pytest.approx(expected, rel=1e-12)


def test_the_caption_does_not_call_n_u_a_bound_on_the_gradient(small):
    caption = " ".join(c.value for c in small.caption)
    assert "not bounds on this gradient" in caption
    assert "one length-n dot product" in caption and "can sit above n·u" in caption


def test_small_sizes_are_drawn_before_the_large_ones_run(monkeypatch):
    """The page runs the sizes up to 64 first and draws them, then each larger size,
    redrawing after each (a first chart within seconds instead of after the whole)."""
    import dashboard.ui as ui

    events = []
    run, chart = ui.run_sweep_with_progress, ui.chart

    def recording_run(sweep, *args, **kwargs):
        events.append(("run", sweep.dims))
        return run(sweep, *args, **kwargs)

    def recording_chart(spec, caption):
        data = [d for d in spec.to_dict()["datasets"].values()][0]
        events.append(("draw", max(row["n"] for row in data)))
        return chart(spec, caption)

    monkeypatch.setattr(ui, "run_sweep_with_progress", recording_run)
    monkeypatch.setattr(ui, "chart", recording_chart)
    at = opened({"dims": "2,4,100,120", "seeds": "0", "dtypes": "float32"})
    assert_clean(at)
    error_draws = [e for e in events if e[0] == "run" or e[1] in (4, 100, 120)]
    assert error_draws[:2] == [("run", (2, 4)), ("draw", 4)], events
    assert ("run", (100,)) in events and ("run", (120,)) in events
    assert events.index(("draw", 4)) < events.index(("run", (100,)))
    assert events.index(("draw", 100)) < events.index(("run", (120,)))
    assert set(chart_data(at, 0)[0]["n"]) == {2, 4, 100, 120}


def test_float64_is_measured_against_longdouble(small):
    data = chart_data(small, 1)[0]
    errors = data[data["kind"] == "error"]
    assert set(errors["dtype"]) == {"float64"}
    assert (errors["value"] > 0).all(), "float64's own rounding is seen, not read as 0"
    rows = cached_sweep(SMALL_SWEEP)
    rows = rows[rows["dtype"] == "float64"]
    assert (rows["reference_precision"] == "longdouble").all()
    for method in ("autograd", "structured", "kron"):
        expected = rows.groupby("n")[f"{method}_rel_err"].max()
        got = errors[errors["method"] == method].set_index("n")["value"]
        assert got.to_dict() == expected.to_dict(), method


def test_half_precision_note_is_there(small):
    notes = " ".join(i.value for i in small.info)
    assert "torch accumulates half-precision reductions" in notes
    assert "float32" in notes and "storage" in notes


def test_units_widget_changes_the_chart():
    at = opened(SMALL)
    at.radio(key=K + "units").set_value("u").run()
    assert_clean(at)
    data = chart_data(at, 0)[0]
    guides = data[data["kind"] == "√n·u"]
    assert guides["value"].tolist() == pytest.approx([math.sqrt(n) for n in guides["n"]])
    assert specs(at)[0]["resolve"]["scale"]["y"] == "shared", "one range in units of u"
    assert at.query_params["units"] == "u"


def test_dtype_widget_changes_the_lines():
    at = opened(SMALL)
    at.multiselect(key=K + "dtypes").set_value(["float32", "bfloat16"]).run()
    assert_clean(at)
    data = chart_data(at, 0)[0]
    assert set(data[data["kind"] == "error"]["dtype"]) == {"float32", "bfloat16"}
    assert len(at.get("vega_lite_chart")) == 1, "no float64, no float64 chart"
    assert at.query_params["dtypes"] == "float32,bfloat16"


def test_query_params_restore_the_view():
    at = opened({"dims": "4,16", "seeds": "7", "methods": "autograd,structured",
                 "agg": "median", "eps": "1e-05", "placement": "outside"})
    assert_clean(at)
    assert at.text_input(key=K + "seeds").value == "7"
    assert at.selectbox(key=K + "eps").value == 1e-05
    assert at.radio(key=K + "placement").value == "outside"
    data = chart_data(at, 0)[0]
    assert set(data["n"]) == {4, 16}
    assert set(data[data["kind"] == "error"]["method"]) == {"autograd", "structured"}


@pytest.mark.parametrize("params, words", [
    ({"dims": "two"}, ["dims", "two"]),
    ({"dims": "1000000"}, ["m=1000000", "memory budget"]),
    ({"seeds": "0.5"}, ["seeds", "0.5"]),
], ids=["not-a-number", "m=n=1e6", "fractional-seed"])
def test_bad_input_is_an_error_not_an_exception(params, words):
    at = opened(params)
    assert not at.exception, [e.value for e in at.exception]
    assert all(w in at.error[0].value for w in words), at.error[0].value
    assert not at.get("vega_lite_chart")


def test_no_method_is_an_error():
    at = opened(SMALL)
    at.multiselect(key=K + "methods").set_value([]).run()
    assert not at.exception
    assert "methods" in at.error[0].value


def test_a_url_whose_dtypes_are_all_unknown_keeps_the_default_dtypes():
    """The URL's bad dtypes are reported and the default stands (issue 20, item 2): the
    page neither errors nor rewrites the URL to an empty list."""
    from dashboard.precision import PrecisionView

    at = page("precision")
    at.query_params.update({"dtypes": "int8"})
    at.run(timeout=120)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "dtypes: int8 not among" in " ".join(w.value for w in at.warning)
    assert at.multiselect(key=K + "dtypes").value == list(PrecisionView().dtypes)
    assert at.query_params.get("dtypes") in (None, [], ""), "no empty dtypes= in the URL"
