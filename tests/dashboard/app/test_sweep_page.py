"""AppTest of the Sweep page (views/sweep.py)."""

from __future__ import annotations

import pytest
from apptest_helpers import assert_clean, chart_data, page, specs
from hypothesis import given
from hypothesis import strategies as st

import gradlab.sweep.runner
from dashboard.forms import list_text, parse_list
from gradlab.core.errors import GradlabError
from gradlab.sweep.export import read_csv_bytes, to_csv_bytes
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import cached_sweep

K = "sweep."
#: A small grid that runs in about a second: 3 sizes × 2 dtypes × 3 ε × 1 seed.
SMALL = {"dims": "2..8", "seeds": "0", "dtypes": "float32,float16"}
SMALL_SWEEP = Sweep(dims=(2, 4, 8), dtypes=("float32", "float16"), eps=(0.0, 1e-6, 1e-5),
                    seeds=(0,), methods=("autograd", "structured"))


def opened(params: dict | None = None):
    at = page("sweep")
    at.query_params.update(params or {})
    return at.run()


def table(at):
    return at.dataframe[0].value


def encoding_fields(spec: dict) -> dict:
    return {channel: enc.get("field") for channel, enc in spec["encoding"].items()
            if isinstance(enc, dict)}


@pytest.fixture(scope="module")
def default():
    return opened()


@pytest.fixture(scope="module")
def small():
    """The small grid, run from a shared URL (run=1)."""
    return opened({**SMALL, "run": "1"})


def test_default_preselects_the_default_sweep_and_waits(default):
    assert_clean(default)
    assert default.text_input(key=K + "dims").value == "2..4096"
    assert default.text_input(key=K + "seeds").value == "0, 1, 2"
    assert default.multiselect(key=K + "dtypes").value == list(Sweep.default().dtypes)
    assert f"{Sweep.default().points:,} points" in default.caption[0].value
    assert "Run sweep" in default.info[0].value
    assert not default.get("vega_lite_chart"), "nothing runs until asked"


def test_default_view_has_a_clean_url(default):
    assert dict(default.query_params) == {}


def test_run_button_runs_the_grid_and_writes_the_url():
    at = opened()
    at.text_input(key=K + "dims").set_value("2..8")
    at.text_input(key=K + "seeds").set_value("0")
    at.multiselect(key=K + "dtypes").set_value(["float32", "float16"])
    at.button[0].click().run()
    assert_clean(at)
    assert len(table(at)) == SMALL_SWEEP.points
    assert dict(at.query_params) == {**SMALL, "run": "1"}


def test_shared_url_restores_the_widgets_and_the_results(small):
    assert_clean(small)
    assert small.text_input(key=K + "dims").value == "2..8"
    assert small.text_input(key=K + "seeds").value == "0"
    assert small.multiselect(key=K + "dtypes").value == ["float32", "float16"]
    t = table(small)
    assert len(t) == SMALL_SWEEP.points
    assert sorted(set(t["n"])) == [2, 4, 8] and set(t["seed"]) == {0}
    assert set(t["dtype"]) == {"float32", "float16"}


def test_chart_is_log_log_with_one_colour_per_dtype_and_eps_facets(small):
    spec = specs(small)[0]
    assert spec["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["encoding"]["y"]["scale"]["type"] == "log"
    assert spec["encoding"]["color"]["field"] == "dtype"
    assert spec["encoding"]["column"]["field"] == "eps"
    assert "row" not in spec["encoding"], "one placement: no row facet"
    data = chart_data(small, 0)[0]
    assert set(data["dtype"]) == {"float32", "float16"}
    assert set(data["eps"]) == {"0", "1e-06", "1e-05"}


def test_the_table_is_what_the_csv_holds(small):
    """The download is to_csv_bytes of the computed frame: the same rows as the table."""
    frame = cached_sweep(SMALL_SWEEP)
    data = to_csv_bytes(frame)
    back = read_csv_bytes(data, "gradlab-sweep.csv")
    t = table(small)
    assert list(back.columns) == list(t.columns)
    assert back["structured_max_abs_diff"].tolist() == t["structured_max_abs_diff"].tolist()
    assert small.get("download_button")[0].proto.url.endswith(".csv")


@pytest.mark.parametrize("widget, value, check", [
    ("x", "mn", lambda spec, data: encoding_fields(spec)["x"] == "mn"),
    ("columns", "none", lambda spec, data: "column" not in spec["encoding"]),
    ("agg", "min", lambda spec, data: spec["encoding"]["y"]["title"].startswith("min ")),
], ids=["x-axis", "no-facet", "aggregate"])
def test_chart_widgets_change_the_chart(widget, value, check):
    at = opened({**SMALL, "run": "1"})
    at.selectbox(key=K + widget).set_value(value).run()
    assert_clean(at)
    assert check(specs(at)[0], chart_data(at, 0)[0])
    assert at.query_params[widget] == value


def test_filtering_eps_keeps_its_rows():
    at = opened({**SMALL, "run": "1", "columns": "none"})
    at.selectbox(key=K + "pick_eps").set_value("1e-05").run()
    assert_clean(at)
    data = chart_data(at, 0)[0]
    assert (data["points"] == 1).all(), "one ε, one seed: nothing aggregated"
    assert at.query_params["pick_eps"] == "1e-05"


def test_grid_widget_changes_the_results():
    at = opened({**SMALL, "run": "1"})
    at.multiselect(key=K + "dtypes").set_value(["float64"])
    at.button[0].click().run()
    assert_clean(at)
    assert set(table(at)["dtype"]) == {"float64"}


def test_placements_facet_into_rows():
    at = opened({**SMALL, "placements": "inside,outside", "run": "1"})
    assert_clean(at)
    assert specs(at)[0]["encoding"]["row"]["field"] == "eps_placement"


def test_a_repeat_of_the_same_sweep_returns_at_once(small, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ran again instead of returning the cached sweep")

    monkeypatch.setattr(gradlab.sweep.runner, "run_sweep", refuse)
    again = opened({**SMALL, "run": "1"})
    assert_clean(again)
    assert len(table(again)) == SMALL_SWEEP.points


@pytest.mark.parametrize("params, words", [
    ({"dims": "2,abc"}, ["dims", "abc"]),
    ({"dims": "1000000", "run": "1"}, ["m=1000000", "MiB", "memory budget"]),
    ({"seeds": "-1"}, ["seeds"]),
    ({"dims": "", "m": "", "n": "4"}, ["m must have at least one value"]),
], ids=["not-a-number", "m=n=1e6", "negative-seed", "no-sizes"])
def test_bad_grid_is_an_error_not_an_exception(params, words):
    at = opened(params)
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1
    assert all(w in at.error[0].value for w in words), at.error[0].value
    assert not at.get("vega_lite_chart")


def test_a_sweep_past_the_point_limit_is_refused(monkeypatch):
    monkeypatch.setenv("GRADLAB_MAX_POINTS", "10")
    at = opened({**SMALL, "run": "1"})
    assert not at.exception
    assert "18 points, over the limit of 10 points" in at.error[0].value
    assert not at.get("vega_lite_chart")


def test_bad_url_choices_are_reported_and_dropped():
    at = opened({"dtypes": "float32,float8", "x": "batch"})
    assert not at.exception and not at.error
    warning = at.warning[0].value
    assert "dtypes" in warning and "float8" in warning
    assert at.multiselect(key=K + "dtypes").value == ["float32"]


@pytest.mark.parametrize("text, kind, expected", [
    ("2..4096", int, tuple(2**k for k in range(1, 13))),
    ("3..20", int, (3, 6, 12)),
    ("2, 4;8 16", int, (2, 4, 8, 16)),
    ("1e6", int, (1000000,)),
    ("", int, ()),
    ("0, 1e-6, 1e-05", float, (0.0, 1e-6, 1e-5)),
], ids=["doubling", "doubling-uneven", "separators", "exponent-int", "empty", "floats"])
def test_parse_list(text, kind, expected):
    assert parse_list(text, kind, "dims") == expected


@pytest.mark.parametrize("text, kind, words", [
    ("2, x", int, ["dims", "'x'"]),
    ("2.5", int, ["dims", "not an integer"]),
    ("8..2", int, ["dims", "1 ≤ a ≤ b"]),
    ("inf", int, ["dims", "not an integer"]),
], ids=["word", "fraction", "backwards-range", "inf"])
def test_parse_list_names_the_field(text, kind, words):
    with pytest.raises(GradlabError) as info:
        parse_list(text, kind, "dims")
    assert all(w in str(info.value) for w in words)


@given(st.lists(st.integers(1, 10**6), max_size=8).map(tuple))
def test_list_text_reads_back_ints(values):
    assert parse_list(list_text(values), int, "x") == values


@given(st.integers(1, 1000), st.integers(3, 12))
def test_list_text_writes_doublings_as_a_range(start, count):
    values = tuple(start * 2**k for k in range(count))
    assert list_text(values) == f"{start}..{values[-1]}"
    assert parse_list(list_text(values), int, "x") == values


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=6)
       .map(tuple))
def test_list_text_reads_back_floats(values):
    assert parse_list(list_text(values), float, "x") == values
