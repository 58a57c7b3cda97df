"""AppTest of the Ops page (views/ops.py) on the shipped corpus run: it loads, filters
from the URL and from its widgets, names bad URL values, links each op to Verify and
re-runs one op live; and the Verify page opened on a corpus op (source=op)."""

from __future__ import annotations

import math

import pytest
from apptest_helpers import assert_clean, chart_data, html_tables, page, specs

from dashboard.ops import load_ops
from gradlab.charts.ops import GRID_STATUSES
from gradlab.core.dtypes import DTYPE_NAMES

K = "ops."


def opened(params: dict | None = None, name: str = "ops"):
    at = page(name)
    at.query_params.update(params or {})
    return at.run()


def grid(at):
    """The grid's cells as Streamlit sent them."""
    (cells,) = [f for f in chart_data(at, 0) if "op_name" in f]
    return cells


def warnings(at) -> str:
    return " ".join(w.value for w in at.warning)


def table(at, column: str):
    """The first table with ``column``."""
    return next(f.value for f in at.dataframe if column in f.value.columns)


@pytest.fixture(scope="module")
def default():
    return opened()


@pytest.fixture(scope="module")
def shipped():
    return load_ops()


def test_default_view_draws_the_worst_ops_first(default, shipped):
    assert_clean(default)
    assert default.title[0].value == "Ops"
    assert len(specs(default)) == 1
    cells = grid(default)
    ops = list(dict.fromkeys(table(default, "Verify")["op"]))
    assert set(cells["op_name"]) == set(ops) and len(ops) == 60
    assert shipped["op_name"].nunique() > 60, "the cap is said"
    assert any("The first 60 of the" in c.value for c in default.caption)
    first = cells.loc[cells["op_name"] == ops[0], "status"]
    assert min(first, key=GRID_STATUSES.index) == min(shipped["status"],
                                                       key=GRID_STATUSES.index)
    assert dict(default.query_params) == {}, "the default view keeps a clean URL"


def test_default_view_counts_and_provenance(default, shipped):
    counts = next(m.value for m in default.markdown if m.value.startswith("**Cells"))
    for status in GRID_STATUSES:
        assert f" {status}]" in counts
    caption = default.caption[0].value
    assert "dashboard/data/ops.csv" in caption and f"{len(shipped):,} rows" in caption
    assert f"torch {shipped['torch_version'].iloc[0]}" in caption
    skips = table(default, "reason")
    assert len(skips) == int((shipped["status"] == "skipped").sum())
    assert (skips["reason"] != "").all()


def test_every_op_drawn_links_to_verify(default):
    ops = table(default, "Verify")
    linked = ops.dropna(subset=["Verify"])
    assert len(linked) and all(link.startswith(f"verify?source=op&op={op}")
                               for op, link in zip(linked["op"], linked["Verify"]))
    link = next(m.value for m in default.markdown if m.value.startswith("[Open "))
    assert f"[Open {ops['op'].iloc[0]} on the Verify page](verify?source=op&op=" in link


def test_url_filters_pick_the_ops(shipped):
    at = opened({"statuses": "pass", "dtypes": "float32,float16", "name": "SOFT"})
    assert_clean(at)
    assert at.multiselect(key=K + "statuses").value == ["pass"]
    assert at.multiselect(key=K + "dtypes").value == ["float32", "float16"]
    cells = grid(at)
    assert set(cells["dtype"]) <= {"float32", "float16"}
    assert all("soft" in op for op in cells["op_name"])
    matched = cells[cells["matched"]]
    assert set(matched["status"]) == {"pass"}
    assert set(matched["op_name"]) == set(cells["op_name"]), "each op drawn has a pass"
    assert dict(at.query_params) == {"statuses": "pass", "dtypes": "float32,float16",
                                     "name": "SOFT"}


def test_widgets_filter_and_write_the_url():
    at = opened()
    at.text_input(key=K + "name").set_value("kernel.").run()
    at.selectbox(key=K + "order").set_value("name").run()
    assert_clean(at)
    ops = list(dict.fromkeys(table(at, "Verify")["op"]))
    assert ops and all(op.startswith("kernel.") for op in ops) and ops == sorted(ops)
    assert dict(at.query_params) == {"name": "kernel.", "order": "name"}
    at.multiselect(key=K + "statuses").set_value(["fail"]).run()
    assert set(grid(at).query("matched")["status"]) == {"fail"}
    assert at.query_params["statuses"] == "fail"


def test_a_filter_that_keeps_nothing_says_so():
    at = opened({"name": "no op is called this"})
    assert_clean(at)
    assert "No op matches the filters" in at.info[0].value
    assert not specs(at)


def test_bad_url_values_warn_and_the_defaults_stand():
    at = opened({"statuses": "bogus", "dtypes": "float8", "order": "random", "shown": "7",
                 "op": "no_such_op", "name": "abs"})
    assert not at.exception
    text = warnings(at)
    for name in ("statuses", "dtypes", "order", "shown", "op"):
        assert name in text, name
    assert at.multiselect(key=K + "statuses").value == list(GRID_STATUSES)
    assert at.multiselect(key=K + "dtypes").value == list(DTYPE_NAMES)
    assert at.text_input(key=K + "name").value == "abs", "the good parameter is kept"
    assert dict(at.query_params) == {"name": "abs"}


def test_the_rerun_button_runs_an_op_beside_its_shipped_rows(shipped):
    at = opened({"name": "abs", "op": "abs"})
    assert at.selectbox(key=K + "op").value == "abs"
    at.button(key=K + "rerun").click().run()
    assert_clean(at)
    assert any(m.value.startswith("**Fresh rows of abs**") for m in at.markdown)
    both = table(at, "same verdict")
    assert len(both) == int((shipped["op_name"] == "abs").sum())
    assert both["same verdict"].all(), "seed 0 again: the shipped verdicts"
    assert set(both["entry"]) == set(shipped.loc[shipped["op_name"] == "abs", "entry"])


def test_a_rerun_past_the_time_limit_is_refused_with_its_estimate(monkeypatch):
    """Issue 20, item 4: every entry of the op is probed (verification.cost) and the
    re-run refused, with the estimate and the limit, before it runs."""
    from gradlab.verification import cost

    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "2")
    monkeypatch.setattr(cost, "probe", lambda c, r, i, dtypes, seed: cost.Probe(
        dict.fromkeys(dtypes, 0.5), entries=400))
    at = opened({"name": "abs", "op": "abs"})
    at.button(key=K + "rerun").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "re-running abs (" in message and "over the time limit of 2 s" in message, message
    assert not any(m.value.startswith("**Fresh rows of abs**") for m in at.markdown)


# ------------------------------------------------- the Verify page on a corpus op


def test_verify_opens_a_corpus_op():
    at = opened({"source": "op", "op": "abs", "dtypes": "float32,float16"}, name="verify")
    assert_clean(at)
    assert at.radio(key="verify.source").value == "op"
    assert at.selectbox(key="verify.op").value == "abs"
    verdicts = html_tables(at)["verdicts"]
    assert list(verdicts["dtype"]) == ["float32", "float16"]
    assert any(s.value.startswith("abs#") for s in at.subheader)
    assert len(specs(at)) == 3, "the verdict chart and two |Δ| maps; no size sweep"
    assert dict(at.query_params) == {"source": "op", "op": "abs", "dtypes": "float32,float16"}


def test_verify_refuses_a_corpus_op_past_the_time_limit(monkeypatch):
    from gradlab.verification import cost

    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "1")
    monkeypatch.setattr(cost, "probe", lambda c, r, i, dtypes, seed: cost.Probe(
        dict.fromkeys(dtypes, 0.5), entries=400))
    at = opened({"source": "op", "op": "abs", "dtypes": "float32,float16"}, name="verify")
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "verifying abs#0 in 2 dtypes refused: it would take about" in message, message
    assert "verdicts" not in html_tables(at)


def test_verify_agrees_with_a_shipped_fail_and_shows_the_worst_entries(shipped):
    """The smallest failing row of the shipped run, verified live: it fails again."""
    fails = shipped[(shipped["status"] == "fail") & (shipped["shape"] != "scalar")]
    sizes = [math.prod(int(n) for n in shape.split("x")) for shape in fails["shape"]]
    row = fails.iloc[sizes.index(min(sizes))]
    entry = row["entry"]
    params = {"source": "op", "op": row["op_name"], "dtypes": row["dtype"]}
    if "#" in entry:
        params["sample"] = entry.partition("#")[2]
    at = opened(params, name="verify")
    assert not at.exception
    assert "Verdict: NOT passed" in at.error[0].value
    verdicts = html_tables(at)["verdicts"]
    inputs = verdicts["input"].str.split("\n").str[0]
    assert set(verdicts.loc[inputs == row["input"], "status"]) == {"fail"}
    worst = table(at, "at a kink")
    assert row["input"] in set(worst["input"]), "the worst entries of the failing row"


def test_verify_names_an_unknown_op():
    at = opened({"source": "op", "op": "no_such_op"}, name="verify")
    assert not at.exception
    assert "op: 'no_such_op' is not an op of the corpus" in warnings(at)
    assert "Pick an op of the corpus" in at.info[0].value
