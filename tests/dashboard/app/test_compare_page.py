"""AppTest of the Compare page (views/compare.py)."""

from __future__ import annotations

import pytest
from apptest_helpers import assert_clean, chart_data, page, specs

from gradlab.core.limits import MiB
from gradlab.sweep.export import to_csv_bytes
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import cached_sweep

K = "compare."
DIMS = (2, 4, 8, 16)
EPS = (0.0, 1e-6, 1e-5)


def csv(seed: int, dtypes=("float32", "float16")) -> bytes:
    return to_csv_bytes(cached_sweep(Sweep(dims=DIMS, dtypes=dtypes, eps=EPS, seeds=(seed,),
                                           methods=("autograd", "structured"))))


def upload(files, params: dict | None = None):
    at = page("compare")
    at.query_params.update(params or {})
    at.run()
    at.file_uploader[0].set_value([(name, data, "text/csv") for name, data in files]).run()
    return at


@pytest.fixture(scope="module")
def two():
    """Two files that share the float32 points (same seed), each with a dtype of its own."""
    return upload([("laptop.csv", csv(0)), ("server.csv", csv(0, ("float64", "float32")))])


def test_empty_page_asks_for_files():
    at = page("compare").run()
    assert_clean(at)
    assert "Upload" in at.info[0].value
    assert dict(at.query_params) == {}
    uploader = at.file_uploader[0]
    assert uploader.accept_multiple_files
    assert uploader.allowed_type == [".csv"]
    intro = at.markdown[0].value
    assert "python -m gradlab sweep … --out FILE.csv" in intro and "--csv" not in intro


def test_two_files_overlay_on_the_same_charts(two):
    assert_clean(two)
    assert len(two.get("vega_lite_chart")) == 2
    for index in (0, 1):
        spec = specs(two)[index]
        enc = spec["encoding"]
        assert enc["x"]["scale"]["type"] == "log" and enc["y"]["scale"]["type"] == "log"
        assert enc["color"]["field"] == "dtype"
        assert enc["strokeDash"]["field"] == "file" and enc["shape"]["field"] == "file"
        data = chart_data(two, index)[0]
        by_file = data.groupby("file")["dtype"].agg(set).to_dict()
        assert by_file == {"laptop.csv": {"float32"}, "server.csv": {"float32"}}, \
            "only the points both files hold"


def test_summary_lists_each_file_with_its_seeds_and_eps(two):
    summary = two.dataframe[0].value
    assert summary["file"].tolist() == ["laptop.csv", "server.csv"]
    assert summary["rows"].tolist() == [len(DIMS) * 2 * len(EPS)] * 2
    assert summary["seeds"].tolist() == ["0", "0"]
    assert summary["ε"].tolist() == ["0, 1e-06, 1e-05"] * 2
    assert summary["dtypes"].tolist() == ["float32, float16", "float64, float32"]
    assert "torch_version" in summary and "threads" in summary


def test_left_out_points_are_counted(two):
    info = " ".join(i.value for i in two.info)
    rows = len(DIMS) * len(EPS)
    assert f"Compared on the {rows} points present in every file" in info
    assert f"laptop.csv {rows}, server.csv {rows}" in info
    assert "dtype: laptop.csv float16, float32; server.csv float32, float64" in info


def test_different_seeds_are_not_compared():
    """Different seeds are different inputs: no point in common, and the page says why
    instead of blaming a kernel or the thread count."""
    at = upload([("laptop.csv", csv(0)), ("server.csv", csv(1))])
    assert not at.exception and not at.error
    warning = at.warning[0].value
    assert "share no point" in warning and "seed: laptop.csv 0; server.csv 1" in warning
    assert not at.get("vega_lite_chart")


def test_repeated_points_in_a_file_are_counted_once():
    data = csv(0)
    lines = data.decode().splitlines()
    twice = ("\n".join(lines + lines[1:3]) + "\n").encode()
    at = upload([("twice.csv", twice), ("once.csv", data)])
    assert_clean(at)
    assert "twice.csv: 2 repeated point(s)" in " ".join(i.value for i in at.info)
    assert (chart_data(at, 0)[0].groupby("file")["points"].sum() == len(DIMS) * 2 * len(EPS)
            ).all()


def test_a_malformed_file_is_named_and_the_others_still_show():
    good = csv(0)
    broken = b"m,n,dtype\ntwo,2,float32\n"
    ragged = good.replace(b"\n2,2,", b"\n2,2,2,", 1)
    at = upload([("good.csv", good), ("broken.csv", broken), ("ragged.csv", ragged),
                 ("binary.csv", b"\x00\x01\x02")])
    assert not at.exception
    messages = [e.value for e in at.error]
    assert len(messages) == 3
    assert messages[0].startswith("broken.csv:") and "missing columns" in messages[0]
    assert "column m: expected integers, got 'two' (line 2)" in messages[0], "every problem"
    assert all(e.proto.icon == ":material/block:" for e in at.error), "no emoji font needed"
    assert messages[1].startswith("ragged.csv:") and "line 2" in messages[1]
    assert messages[2].startswith("binary.csv:")
    assert len(at.get("vega_lite_chart")) == 2, "good.csv is still drawn"
    assert set(chart_data(at, 0)[0]["file"]) == {"good.csv"}


def test_only_bad_files_show_only_messages():
    at = upload([("notes.csv", b"hello\n")])
    assert not at.exception
    assert at.error[0].value.startswith("notes.csv:")
    assert not at.get("vega_lite_chart")


def test_a_file_over_the_upload_limit_is_refused(monkeypatch):
    monkeypatch.setenv("GRADLAB_MAX_UPLOAD_MIB", "0.001")
    data = csv(0)
    assert len(data) > 0.001 * MiB
    at = upload([("big.csv", data)])
    assert not at.exception
    assert at.error[0].value.startswith("big.csv:")
    assert "over the upload limit" in at.error[0].value


def test_the_same_name_twice_is_kept_apart():
    at = upload([("run.csv", csv(0)), ("run.csv", csv(0))])
    assert_clean(at)
    assert set(chart_data(at, 0)[0]["file"]) == {"run.csv", "run.csv (2)"}


@pytest.mark.parametrize("widget, value, check", [
    ("x", "mn", lambda spec, data: spec["encoding"]["x"]["field"] == "mn"),
    ("agg", "median", lambda spec, data: spec["encoding"]["y"]["title"].startswith("median")),
    ("pick_eps", "1e-05", lambda spec, data: (data["points"] == 1).all()),
    ("pick_eps", "", lambda spec, data: (data["points"] == len(EPS)).all()),
], ids=["x-axis", "aggregate", "filter-eps", "all-eps"])
def test_widgets_change_the_charts(widget, value, check):
    at = upload([("laptop.csv", csv(0))], {"pick_eps": "1e-06"} if value == "" else {})
    at.selectbox(key=K + widget).set_value(value).run()
    assert_clean(at)
    assert check(specs(at)[0], chart_data(at, 0)[0])
    assert at.query_params.get(widget, "") == value, "a default value leaves the URL"


def test_query_params_restore_the_view():
    at = upload([("laptop.csv", csv(0))], {"x": "m", "error_method": "autograd",
                                           "pick_eps": "1e-06"})
    assert_clean(at)
    assert at.selectbox(key=K + "x").value == "m"
    assert at.selectbox(key=K + "error_method").value == "autograd"
    assert specs(at)[1]["encoding"]["y"]["field"] == "autograd_rel_err"
    assert (chart_data(at, 0)[0]["points"] == 1).all()


def test_bad_query_params_are_reported_not_raised():
    at = upload([("laptop.csv", csv(0))], {"x": "seed", "pick_eps": "0.5"})
    assert not at.exception and not at.error
    warning = at.warning[0].value
    assert "x" in warning and "pick_eps" in warning
    assert at.selectbox(key=K + "x").value == "n"


def test_variants_get_a_panel_each():
    zoo = to_csv_bytes(cached_sweep(Sweep(dims=DIMS, dtypes=("float32",), seeds=(0,),
                                          variants=("none", "no-projection"),
                                          methods=("autograd", "structured"))))
    at = upload([("a.csv", zoo), ("b.csv", zoo)])
    assert_clean(at)
    spec = specs(at)[0]
    assert spec["facet"]["column"]["field"] == "variant"
    data = chart_data(at, 0)[0]
    assert set(data["variant"]) == {"none", "no-projection"}
