"""AppTest of the Sweep page (views/sweep.py)."""

from __future__ import annotations

import pytest
from apptest_helpers import assert_clean, chart_data, page, specs
from hypothesis import given
from hypothesis import strategies as st

import gradlab.sweep.runner
from gradlab.core.errors import GradlabError
from gradlab.core.lists import list_text, parse_list
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


def encodings(spec: dict) -> dict:
    """Every channel of the chart: its layers' encodings and its facets."""
    inner = spec.get("spec", spec)
    found = {}
    for layer in inner.get("layer", [inner]):
        found.update(layer.get("encoding", {}))
    found.update(spec.get("facet", {}))
    return found


def encoding_fields(spec: dict) -> dict:
    return {channel: enc.get("field") for channel, enc in encodings(spec).items()
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
    enc = encodings(specs(small)[0])
    assert enc["x"]["scale"]["type"] == "log"
    assert enc["y"]["scale"]["type"] == "log"
    assert enc["color"]["field"] == "dtype"
    assert enc["color"]["scale"]["domain"] == ["float32", "float16"], "only dtypes drawn"
    assert enc["column"]["field"] == "eps"
    assert "row" not in enc, "one placement: no row facet"
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
    ("columns", "none", lambda spec, data: "column" not in encodings(spec)),
    ("agg", "min", lambda spec, data: encodings(spec)["y"]["title"].startswith("min ")),
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
    assert encodings(specs(at)[0])["row"]["field"] == "eps_placement"


ZOO = {"dims": "2..16", "seeds": "0", "dtypes": "float32,bfloat16", "eps": "1e-05",
       "variants": "none,no-projection,eps-missing", "run": "1"}


def test_variants_are_drawn_apart_with_their_verdicts():
    """The correct derivation and each variant are separate lines (never the max over
    them), and every point carries its verdict."""
    at = opened(ZOO)
    assert_clean(at)
    enc = encodings(specs(at)[0])
    assert enc["strokeDash"]["field"] == "variant"
    assert enc["strokeDash"]["scale"]["domain"] == ["none", "no-projection", "eps-missing"]
    assert enc["shape"]["field"] == "status"
    data = chart_data(at, 0)[0]
    assert set(data["variant"]) == {"none", "no-projection", "eps-missing"}
    assert (data.groupby(["n", "dtype", "variant"]).size() == 1).all(), "one point each"
    frame = table(at)
    for _, point in data.iterrows():
        rows = frame[(frame["n"] == point["n"]) & (frame["dtype"] == point["dtype"])
                     & (frame["variant"] == point["variant"])]
        assert point["structured_max_abs_diff"] == rows["structured_max_abs_diff"].max()
        assert point["status"] == rows["structured_status"].iloc[0]
    none = data[data["variant"] == "none"]
    assert set(none["status"]) == {"pass"}
    assert set(data[data["variant"] == "no-projection"]["status"]) == {"fail"}
    f32 = data[(data["dtype"] == "float32") & (data["variant"] == "none")]
    assert (f32["structured_max_abs_diff"] < 1e-5).all(), "rounding is not the bug's height"


def test_the_worst_verdict_is_drawn_and_every_count_is_in_the_tooltip():
    at = opened({**ZOO, "dtypes": "bfloat16", "eps": "0,1e-05", "columns": "none"})
    data = chart_data(at, 0)[0]
    eps_missing = data[data["variant"] == "eps-missing"]
    assert (eps_missing["points"] == 2).all()
    assert set(eps_missing["status"]) <= {"too-coarse", "fail"}
    assert all("too-coarse" in v for v in eps_missing["verdicts"])


def test_the_point_count_follows_the_grid_before_running():
    at = opened()
    at.text_input(key=K + "dims").set_value("2..8").run()
    assert at.caption[0].value.startswith("108 points")  # 3 sizes × 4 dtypes × 3 ε × 3 seeds
    at.text_input(key=K + "seeds").set_value("0").run()
    assert at.caption[0].value.startswith("36 points")
    assert not at.get("vega_lite_chart"), "nothing ran"


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
    ({"dims": "2..10000000", "run": "1"}, ["dims reach m = n = 8,388,608", "memory budget",
                                          "the largest of its sizes that fits is m = n ="]),
    ({"seeds": "-1"}, ["seeds"]),
    ({"dims": "", "m": "", "n": "4"}, ["m must have at least one value"]),
], ids=["not-a-number", "m=n=1e6", "dims-doubling-to-1e7", "negative-seed", "no-sizes"])
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


def test_a_url_whose_dtypes_are_all_unknown_keeps_the_default_dtypes():
    """"Ignored in the URL (the default stands…)" holds: the widget keeps the default
    dtypes instead of going empty and erroring (issue 20, item 2)."""
    at = page("sweep")
    at.query_params.update({"dims": "2,4", "dtypes": "int8"})
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "dtypes: int8 not among" in " ".join(w.value for w in at.warning)
    assert at.multiselect(key=K + "dtypes").value == list(Sweep.default().dtypes)
