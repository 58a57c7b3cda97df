"""The Ops page's pure part (dashboard/ops.py): the shipped corpus run and reading a
corpus CSV, its cells (op × dtype), the filters, the grid's spec
(gradlab/charts/ops.py), the skipped table, the links to Verify and the live re-run;
and the Verify page's op source (dashboard/verify.py: source=op)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest

from dashboard.ops import (
    OPS_CSV,
    OpsView,
    load_ops,
    numbers_as_text,
    op_cells,
    op_rows,
    op_summary,
    ops_table,
    pick_op,
    provenance_line,
    rerun_op,
    select,
    side_by_side,
    skipped_table,
    status_counts,
    summary_query,
    verify_link,
)
from dashboard.urlstate import from_query, to_query
from dashboard.verify import VerifyView, corpus_op, op_deltas, op_report
from gradlab.charts.ops import GRID_STATUSES, ROW_PX, STATUS_FILLS, ops_grid
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.corpus.run import COLUMNS

DEFAULT = OpsView()
SKIP_16 = "float16: not among its supported dtypes on cpu"
NO_REFERENCE = "no torch._refs, decomposition or formula"


def row(entry: str, dtype: str, status: str, err: float | None = None, input: str = "x",
        family: str = "opinfo", evidence: str = "") -> dict:
    """One corpus row with every column (the ones a test does not set empty)."""
    line = dict.fromkeys(COLUMNS, "")
    line.update(entry=entry, op=entry.partition("#")[0], family=family, dtype=dtype,
                input=input if status != "skipped" else "", status=status,
                err_max_u="" if err is None else err, entry_seed=0, shape="4x4",
                evidence=evidence or f"{status} evidence", torch_version="2.13.0+cpu",
                gradlab_version="0.1.0", python_version="3.11.7", device="cpu", threads=1,
                timestamp="2026-01-02T03:04:05")
    return line


#: Op a: a fail in float32 (its other entry passes), passes in float64, float16 skipped;
#: op b skipped as a whole; kernel.k error rows; op c passing with the largest error.
ROWS = [row("a#0", "float32", "pass", 1.0), row("a#1", "float32", "fail", 5.0),
        row("a#1", "float32", "pass", 7.0, input="y"), row("a#0", "float64", "pass", 2.0),
        row("a", "float16", "skipped", evidence=SKIP_16), row("b", "", "skipped",
                                                              evidence=NO_REFERENCE),
        *(row("kernel.k", d, "error", family="kernel") for d in DTYPE_NAMES),
        *(row("c#3", d, "pass", 9.0) for d in ("float32", "bfloat16"))]


@pytest.fixture
def frame(tmp_path) -> pd.DataFrame:
    path = tmp_path / "ops.csv"
    pd.DataFrame(ROWS, columns=list(COLUMNS)).to_csv(path, index=False)
    return load_ops(path)


@pytest.fixture
def cells(frame) -> pd.DataFrame:
    return op_cells(frame)


def cell(cells: pd.DataFrame, op: str, dtype: str) -> pd.Series:
    (line,) = cells[(cells["op_name"] == op) & (cells["dtype"] == dtype)].itertuples()
    return pd.Series(line._asdict())


# ---------------------------------------------------------------- the data


def test_the_shipped_run_loads_with_its_provenance():
    shipped = load_ops()
    assert OPS_CSV.stat().st_size < 5 * 2**20, "small enough to commit"
    assert set(COLUMNS) <= set(shipped.columns)
    assert set(shipped["status"]) <= set(GRID_STATUSES)
    assert shipped["entry_seed"].nunique() == 1
    assert (shipped["torch_version"] != "").all() and (shipped["timestamp"] != "").all()
    assert set(shipped["family"]) == {"opinfo", "kernel"}
    assert shipped["op_name"].str.startswith("kernel.").any()
    assert "skipped" in set(shipped["status"]) and "pass" in set(shipped["status"])
    whole = shipped[(shipped["status"] == "skipped") & (shipped["dtype"] == "")]
    assert (whole["evidence"] != "").all(), "every skip has its reason"


def test_a_file_that_is_not_a_corpus_run_is_named(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("m,n\n1,2\n")
    with pytest.raises(GradlabError, match=r"^broken.csv: not a `python -m gradlab ops` CSV"):
        load_ops(path)
    with pytest.raises(GradlabError, match="^missing.csv: cannot read it"):
        load_ops(tmp_path / "missing.csv")


def test_the_provenance_line(frame):
    assert provenance_line(frame) == ("seed 0 · torch 2.13.0+cpu · gradlab 0.1.0 · python "
                                      "3.11.7 · cpu · 1 thread · 2026-01-02")


def test_a_cell_is_its_worst_row_with_the_largest_error(cells):
    a32 = cell(cells, "a", "float32")
    assert a32["status"] == "fail" and a32["entry"] == "a#1" and a32["input"] == "x"
    assert a32["err_max_u"] == 7.0, "the largest over every row of the cell"
    assert a32["detail"] == "1 fail, 2 pass"
    assert cell(cells, "a", "float64")["status"] == "pass"
    assert cell(cells, "a", "float16")["evidence"] == SKIP_16
    assert cells[cells["op_name"] == "a"]["dtype"].tolist().count("bfloat16") == 0, \
        "a dtype the op has no row in has no cell"


def test_a_whole_op_skip_fills_every_dtype(cells):
    b = cells[cells["op_name"] == "b"]
    assert sorted(b["dtype"]) == sorted(DTYPE_NAMES)
    assert set(b["status"]) == {"skipped"} and set(b["evidence"]) == {NO_REFERENCE}
    assert b["err_max_u"].isna().all()


# ---------------------------------------------------------------- the filters


def test_the_default_draws_every_op_the_worst_first(cells):
    selection = select(cells, DEFAULT)
    assert selection.ops == ("a", "kernel.k", "c", "b")
    assert selection.total == 4
    assert selection.cells["matched"].all()
    a32 = selection.cells[(selection.cells["op_name"] == "a")
                          & (selection.cells["dtype"] == "float32")].iloc[0]
    assert a32["err_text"] == "7"
    assert dict(parse_qsl(urlsplit(a32["link"]).query)) == {
        "source": "op", "op": "a", "sample": "1", "dtypes": "float32",
        "show_dtype": "float32"}
    skipped = selection.cells[selection.cells["status"] == "skipped"]
    assert (skipped["link"] == "").all() and (skipped["err_text"] == "").all()


@pytest.mark.parametrize("view, ops", [
    (OpsView(statuses=("fail",)), ("a",)),
    (OpsView(statuses=("pass",)), ("c", "a")),
    (OpsView(statuses=("pass",), order="name"), ("a", "c")),
    (OpsView(order="error"), ("c", "a", "b", "kernel.k")),
    (OpsView(statuses=("skipped",)), ("a", "b")),
    (OpsView(dtypes=("bfloat16",)), ("kernel.k", "c", "b")),
    (OpsView(name="KERNEL."), ("kernel.k",)),
    (OpsView(name=" a "), ("a",)),
    (OpsView(name="zzz"), ()),
], ids=["fail", "pass-worst", "pass-name", "error", "skipped", "one-dtype", "name-any-case",
        "name-stripped", "none"])
def test_the_filters_pick_and_order_the_ops(cells, view, ops):
    selection = select(cells, view)
    assert selection.ops == ops
    assert set(selection.cells["op_name"]) == set(ops)
    assert set(selection.cells["dtype"]) <= set(view.dtypes)


def test_cells_of_other_verdicts_stay_drawn_but_faded(cells):
    selection = select(cells, OpsView(statuses=("fail",)))
    a = selection.cells.set_index("dtype")
    assert set(a.index) == {"float64", "float32", "float16"}
    assert a["matched"].to_dict() == {"float64": False, "float32": True, "float16": False}


def test_the_grid_is_cut_at_shown(frame):
    many = pd.concat([frame] + [frame[frame["op_name"] == "c"].assign(
        op_name=f"c{i}", entry=f"c{i}#0") for i in range(40)], ignore_index=True)
    selection = select(op_cells(many), OpsView(shown=30))
    assert len(selection.ops) == 30 and selection.total == 44


def test_counts_follow_name_and_dtypes_not_the_verdicts(cells):
    counts = status_counts(cells, OpsView(statuses=("fail",)))
    assert list(counts) == list(GRID_STATUSES)
    assert counts == {"fail": 1, "error": 4, "too-coarse": 0, "degenerate": 0, "pass": 3,
                      "skipped": 5}
    assert status_counts(cells, OpsView(name="kernel"))["error"] == 4
    assert sum(status_counts(cells, OpsView(dtypes=("float16",))).values()) == 3


def test_the_skipped_table_gives_each_reason(frame):
    table = skipped_table(frame, DEFAULT)
    assert table.to_dict("records") == [
        {"op": "a", "family": "opinfo", "dtype": "float16", "reason": SKIP_16},
        {"op": "b", "family": "opinfo", "dtype": "all", "reason": NO_REFERENCE}]
    assert skipped_table(frame, OpsView(dtypes=("float32",)))["op"].tolist() == ["b"]
    assert skipped_table(frame, OpsView(name="A"))["op"].tolist() == ["a"]


def test_pick_op_keeps_a_drawn_op_else_the_first():
    assert pick_op("b", ("a", "b")) == "b"
    assert pick_op("", ("a", "b")) == "a" and pick_op("z", ("a",)) == "a"
    assert pick_op("a", ()) == ""


# -------------------------------------------------------------- the config


def test_the_default_view_keeps_a_clean_url():
    assert to_query(DEFAULT, DEFAULT) == {}
    assert DEFAULT.statuses == GRID_STATUSES and DEFAULT.dtypes == DTYPE_NAMES


def test_a_view_round_trips_through_the_url():
    view = OpsView(statuses=("fail", "error"), dtypes=("float16",), name="soft",
                   order="name", shown=300, op="softmax")
    assert from_query(OpsView, to_query(view, DEFAULT), DEFAULT) == (view, [])


@pytest.mark.parametrize("params, message", [
    ({"statuses": "bogus"}, "statuses must be among fail, error"),
    ({"statuses": ""}, "statuses must name at least one of"),
    ({"statuses": "fail,fail"}, "statuses must not repeat"),
    ({"dtypes": "float8"}, "dtypes must be among float64"),
    ({"order": "random"}, "order must be one of worst, error, name"),
    ({"shown": "7"}, "shown must be one of 30, 60"),
    ({"shown": "x"}, "shown must be an integer"),
    ({"name": "x" * 101}, "name must be text of at most 100"),
    ({"op": "abs; rm"}, "op must be an op's name"),
], ids=["status", "no-status", "repeat", "dtype", "order", "shown", "shown-text", "name",
        "op"])
def test_a_bad_url_value_is_named_and_the_default_stands(params, message):
    view, problems = from_query(OpsView, {**params, "name": params.get("name", "keep")},
                                DEFAULT)
    assert len(problems) == 1 and message in problems[0]
    if "name" not in params:
        assert view.name == "keep", "the good parameters are kept"


# ------------------------------------------------------------------ the grid


def test_the_grid_spec(cells):
    selection = select(cells, OpsView(dtypes=("float64", "float32", "float16")))
    spec = ops_grid(selection.cells, selection.ops, ("float16", "float32", "float64")).to_dict()
    rect, text = spec["layer"]
    assert rect["mark"]["type"] == "rect" and text["mark"]["type"] == "text"
    assert spec["height"] == ROW_PX * len(selection.ops)
    enc = rect["encoding"]
    assert enc["y"]["field"] == "op_name" and enc["y"]["sort"] == list(selection.ops)
    assert enc["x"]["sort"] == ["float64", "float32", "float16"], "the table's order"
    present = [s for s in GRID_STATUSES if s in set(selection.cells["status"])]
    assert enc["color"]["scale"] == {"domain": present,
                                     "range": [STATUS_FILLS[s] for s in present]}
    assert "err_max_u" in [t["field"] for t in enc["tooltip"]]
    assert enc["href"]["field"] == "link" and text["encoding"]["text"]["field"] == "err_text"
    assert enc["opacity"]["condition"]["test"] == "datum.matched"


# ------------------------------------------------------------ links and runs


def test_each_op_links_to_its_worst_entry_on_verify(frame, cells):
    summary = op_summary(frame)
    table = ops_table(summary, select(cells, DEFAULT))
    assert table["op"].tolist() == ["a", "kernel.k", "c", "b"]
    assert table["verdict"].tolist() == ["fail", "error", "pass", "skipped"]
    links = dict(zip(table["op"], table["Verify"]))
    assert links["a"] == "verify?source=op&op=a&sample=1&dtypes=float64,float32"
    assert links["kernel.k"] == ("verify?source=op&op=kernel.k"
                                 "&dtypes=float64,float32,bfloat16,float16"), "no sample"
    assert pd.isna(links["b"]), "an op skipped as a whole has nothing to verify"
    assert summary_query(summary, "b") is None
    assert verify_link(summary_query(summary, "a")) == links["a"]


def test_a_link_opens_a_valid_verify_view(frame):
    query = summary_query(op_summary(load_ops()), "softmax")
    view, problems = from_query(VerifyView, query, VerifyView())
    assert problems == [] and view.source == "op" and view.op == "softmax"
    assert view.sample is not None and view.dtypes == tuple(query["dtypes"].split(","))


def test_side_by_side_matches_rows_and_says_which_agree(frame):
    shipped = op_rows(frame, "a")
    assert shipped["status"].iloc[0] == "fail", "the worst row first"
    fresh = shipped.assign(status=["pass"] + shipped["status"].tolist()[1:])
    both = side_by_side(shipped, fresh)
    assert len(both) == len(shipped)
    assert both["same verdict"].tolist() == [False] + [True] * (len(shipped) - 1)
    assert {"shipped verdict", "fresh verdict", "shipped err / u", "fresh err / u"} <= set(both)


def test_tables_write_numbers_as_the_cli_prints_them():
    table = pd.DataFrame({"err / u": [2.684e8, float("nan"), 0.0], "entries": [1, 2, 3]})
    shown = numbers_as_text(table, ["err / u", "not a column"])
    assert shown["err / u"].tolist() == ["2.68e+08", "—", "0"]
    assert shown["entries"].tolist() == [1, 2, 3]


def test_a_rerun_reproduces_the_shipped_verdicts():
    shipped = load_ops()
    fresh = rerun_op("abs", 0, Limits())
    both = side_by_side(op_rows(shipped, "abs"), fresh)
    assert len(both) == len(fresh) == len(op_rows(shipped, "abs")) > 0
    assert both["same verdict"].all()
    assert (fresh["threads"] != "").all() and (fresh["timestamp"] != "").all()


def test_a_rerun_is_held_to_the_limits_and_names_one_op():
    with pytest.raises(GradlabError, match="over the memory budget"):
        rerun_op("abs", 0, Limits(case_bytes=1))
    with pytest.raises(GradlabError, match="names several ops of the corpus"):
        rerun_op("nn.functional.pad", 0, Limits())
    with pytest.raises(GradlabError, match="not in the corpus"):
        rerun_op("no_such_op", 0, Limits())


# ------------------------------------------------ the Verify page's op source


def test_a_corpus_op_lists_its_entries_and_skips():
    abs_op = corpus_op("abs", 0)
    assert abs_op.entries and abs_op.entries[0].name.startswith("abs#")
    assert abs_op.entry(None) == abs_op.entries[0]
    assert abs_op.samples == tuple(e.sample for e in abs_op.entries)
    kernel = corpus_op("kernel.clamp", 0)
    assert [e.name for e in kernel.entries] == ["kernel.clamp"] and kernel.samples == ()
    with pytest.raises(GradlabError, match=r"^sample must be one of .* for op abs"):
        abs_op.entry(10**6)


def test_an_op_skipped_as_a_whole_says_why():
    shipped = load_ops()
    skipped = shipped[(shipped["status"] == "skipped") & (shipped["dtype"] == "")]
    name, reason = skipped.iloc[0][["op_name", "evidence"]]
    with pytest.raises(GradlabError, match=f"op {name} has no entry to verify") as info:
        corpus_op(name, 0).entry(None)
    assert reason in str(info.value)


def test_an_op_that_names_several_is_refused():
    with pytest.raises(GradlabError, match="op nn.functional.pad names 5 ops"):
        corpus_op("nn.functional.pad", 0)


def test_op_report_verifies_the_entry_in_its_dtypes():
    report = op_report("kernel.clamp", None, ("float32", "float16"), 0, Limits())
    assert report.dtypes == ("float32", "float16")
    assert report.candidate == "piecewise-linear (the op)"
    assert {row["status"] for row in report.rows} <= set(GRID_STATUSES)
    maps = op_deltas("kernel.clamp", None, "float16", 0, Limits())
    assert maps.failure is None and set(maps.maps) == {r["input"] for r in report.rows}


def test_op_report_refuses_dtypes_the_op_does_not_run_in():
    shipped = load_ops()
    only = shipped[(shipped["status"] == "skipped") & (shipped["dtype"] == "float16")]
    name = only["op_name"].iloc[0]
    with pytest.raises(GradlabError, match=f"^dtypes: {name}.* runs in .* only"):
        op_report(name, None, ("float16",), 0, Limits())


@pytest.mark.parametrize("fields, message", [
    ({"op": "abs; rm"}, "op must be an op of the corpus"),
    ({"sample": -1}, "sample must be an integer ≥ 0"),
    ({"source": "ops"}, "source must be one of problem, module, op"),
])
def test_verify_view_checks_the_op_source(fields, message):
    with pytest.raises(GradlabError, match=message):
        VerifyView(**fields)


def test_verify_view_takes_a_corpus_gradient_name():
    view = VerifyView(source="op", op="index_add", show_input="input[0]")
    assert view.missing() == []
    assert VerifyView(source="op").missing() == ["op"]
    query = to_query(VerifyView(source="op", op="softmax", sample=4), VerifyView())
    assert query == {"source": "op", "op": "softmax", "sample": "4"}
