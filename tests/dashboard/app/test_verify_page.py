"""AppTest of the Verify page (views/verify.py): the default view, a planted mistake,
a shared URL, bad URL fields, and the module:function source behind
GRADLAB_ALLOW_IMPORT (with verify_fixture_ops.py, a user's module beside this file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apptest_helpers import assert_clean, has_log_scale, html_tables, page, specs

from gradlab.core.limits import ALLOW_IMPORT

K = "verify."
HERE = Path(__file__).resolve().parent
OPS = "verify_fixture_ops"
MODULE = {"source": "module", "target": f"{OPS}:product", "reference": f"{OPS}:reference",
          "inputs": "x=8x16, w=16"}


def verdicts(at):
    """The verdict table's cells, its input cell ("x\\n16x64") split into input and
    shape."""
    table = html_tables(at)["verdicts"]
    table[["input", "shape"]] = table["input"].str.split("\n", expand=True)
    return table


def bullets(at) -> list[str]:
    """The lines under the verdict table: each row that does not pass, with its
    evidence."""
    return [m.value for m in at.markdown if m.value.startswith("- **")]


def alerts(at) -> str:
    return " ".join(e.value for e in [*at.success, *at.error, *at.warning, *at.info])


def titles(at) -> list[str]:
    """Each chart's title text (a facet's, or a heat map's)."""
    out = []
    for spec in specs(at):
        title = spec.get("title", "")
        out.append(title.get("text", "") if isinstance(title, dict) else title)
    return out


@pytest.fixture(scope="module")
def default():
    with pytest.MonkeyPatch.context() as patch:  # as a hosted instance runs
        patch.delenv(ALLOW_IMPORT, raising=False)
        return page("verify").run()


def test_default_view_renders_verdicts_and_charts(default):
    assert_clean(default)
    assert "Verdict: passed" in default.success[0].value
    table = verdicts(default)
    assert list(table["dtype"].unique()) == ["float32", "bfloat16", "float16"]
    assert set(table["input"]) == {"x", "weight", "bias"}
    assert set(table["status"]) == {"pass"}
    charts = specs(default)
    assert len(charts) == 4, "verdict chart, two |Δ| maps, the size chart"
    assert all(has_log_scale(spec) for spec in charts)
    names = titles(default)
    assert names[1] == "|candidate − truth|, ∂x" and names[2] == "|autograd − truth|, ∂x"
    assert "against size" in names[3]
    assert dict(default.query_params) == {}, "the default view keeps a clean URL"


def test_every_chart_has_png_and_svg_downloads_named_after_its_title(default):
    """Two download buttons under each chart, rendered on click (deferred), the file
    named after the chart's title."""
    from gradlab.charts.export import file_stem

    buttons = [b.proto for b in default.get("download_button")]
    assert [b.label for b in buttons] == ["PNG", "SVG"] * len(specs(default))
    assert all(b.deferred_file_id and b.ignore_rerun for b in buttons), "lazy, no rerun"
    verdict_chart = file_stem(titles(default)[0])
    assert verdict_chart == "candidate-vs-autograd-vs-threshold-tick-per-input-and-dtype"
    assert f"({verdict_chart}.png)" in buttons[0].help
    assert f"({verdict_chart}.svg)" in buttons[1].help
    assert "(candidate-truth-dx.png)" in buttons[2].help, "|candidate − truth|, ∂x"


def test_default_explains_why_module_import_is_off(default):
    captions = " ".join(c.value for c in default.caption)
    assert "runs its code in the server's process" in captions
    assert f"{ALLOW_IMPORT}=1 streamlit run app.py" in captions
    assert not [r for r in default.radio if r.key == K + "source"], "no source switch"


def test_a_planted_mistake_fails(monkeypatch):
    monkeypatch.delenv(ALLOW_IMPORT, raising=False)
    at = page("verify").run()
    at.selectbox(key=K + "candidate").set_value("no-mean").run()
    assert not at.exception
    assert at.error and "Verdict: NOT passed" in at.error[0].value
    table = verdicts(at)
    assert set(table.loc[table["input"] == "x", "status"]) == {"fail"}
    assert set(table.loc[table["input"] != "x", "status"]) == {"pass"}
    listed = [m.value for m in at.markdown if m.value.startswith("- **")]
    assert len(listed) == 3 and all("∂x** — fail: bug:" in line for line in listed)
    assert dict(at.query_params) == {"candidate": "no-mean"}
    assert len(specs(at)) == 4
    worst = next(d.value for d in at.dataframe if "error / u" in d.value.columns)
    assert set(worst["input"]) == {"x"} and len(worst) == 3 * 5     # 5 per failing row
    assert any("The worst entries" in m.value for m in at.markdown)


def test_a_shared_url_restores_the_view():
    at = page("verify")
    at.query_params.update({"problem": "gelu", "candidate": "tanh-arg", "size": "64",
                            "sweep": "64, 128", "dtypes": "float32,float16", "seed": "3"})
    at.run()
    assert not at.exception
    assert at.selectbox(key=K + "problem").value == "gelu"
    assert at.selectbox(key=K + "candidate").value == "tanh-arg"
    assert at.text_input(key=K + "size").value == "64"
    assert at.text_input(key=K + "seed").value == "3"
    assert at.multiselect(key=K + "dtypes").value == ["float32", "float16"]
    table = verdicts(at)
    assert list(table["dtype"]) == ["float32", "float16"]
    assert set(table["shape"]) == {"16x64"} and set(table["status"]) == {"fail"}
    assert "at width 64, 128" in " ".join(c.value for c in at.caption)


def test_a_bad_url_field_is_named_and_the_rest_kept():
    at = page("verify")
    at.query_params.update({"problem": "gelu", "size": "99999", "dtypes": "float16"})
    at.run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "size must be ≤ 16384" in warning and "gelu" in warning
    assert at.selectbox(key=K + "problem").value == "gelu"
    assert at.multiselect(key=K + "dtypes").value == ["float16"]
    assert set(verdicts(at)["shape"]) == {"16x1024"}, "the default size stands"


def test_a_gradient_not_in_the_report_falls_back_with_a_message():
    at = page("verify")
    at.query_params.update({"show_input": "nope", "show_dtype": "bfloat16"})
    at.run()
    assert not at.exception
    assert "show_input: 'nope' not among" in " ".join(w.value for w in at.warning)
    assert at.selectbox(key=K + "show_dtype").value == "bfloat16"
    assert "in bfloat16" in " ".join(c.value for c in at.caption)
    assert dict(at.query_params) == {"show_dtype": "bfloat16"}


def test_a_bad_size_typed_in_is_an_error_naming_it():
    at = page("verify").run()
    at.text_input(key=K + "size").set_value("1e23").run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("size must be ≤ 4096")


def test_switching_problem_keeps_a_candidate_it_has():
    at = page("verify").run()
    at.selectbox(key=K + "candidate").set_value("no-mean").run()
    at.selectbox(key=K + "problem").set_value("gelu").run()
    assert_clean(at)
    assert at.selectbox(key=K + "candidate").value == "correct"
    assert dict(at.query_params) == {"problem": "gelu"}


def test_module_source_is_refused_without_the_switch(monkeypatch):
    monkeypatch.delenv(ALLOW_IMPORT, raising=False)
    at = page("verify")
    at.query_params.update(MODULE)
    at.run()
    assert not at.exception
    assert f"module:function is off on this instance ({ALLOW_IMPORT} is not 1)" in alerts(at)
    assert "Verdict: passed" in at.success[0].value, "the built-in problem is shown"
    assert set(verdicts(at)["input"]) == {"x", "weight", "bias"}


@pytest.fixture
def importing(monkeypatch):
    monkeypatch.setenv(ALLOW_IMPORT, "1")
    monkeypatch.syspath_prepend(str(HERE))


def test_module_source_verifies_a_users_function(importing):
    at = page("verify")
    at.query_params.update(MODULE)
    at.run()
    assert_clean(at)
    assert at.radio(key=K + "source").value == "module"
    assert "Verdict: passed" in at.success[0].value
    table = verdicts(at)
    assert set(table["input"]) == {"x", "w"} and set(table["shape"]) == {"8x16", "16"}
    assert len(specs(at)) == 3, "no size sweep for a user's function"
    assert dict(at.query_params) == MODULE


def run_module(target: str):
    """The page with the module source and candidate ``target``, run (no exception)."""
    at = page("verify")
    at.query_params.update({**MODULE, "target": target})
    at.run()
    assert not at.exception
    return at


def test_a_module_function_past_the_time_limit_is_refused_after_its_probe(importing,
                                                                         monkeypatch):
    """Issue 20, item 4: a module function has no fitted model, so one float32 forward +
    backward of it and the reference (verification.cost.probe) sets the estimate."""
    from gradlab.verification import cost

    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "5")
    seconds = dict.fromkeys(("float32", "bfloat16", "float16"), 3.0)
    monkeypatch.setattr(cost, "probe", lambda *a, **k: cost.Probe(seconds, entries=144))
    at = run_module(f"{OPS}:product")
    estimate = cost.probed_seconds(cost.Probe(seconds, 144))
    message = " ".join(e.value for e in at.error)
    assert (f"verifying {OPS}:product in 3 dtypes refused: it would take about "
            f"{estimate:,.1f} s here, over the time limit of 5 s") in message, message
    assert "verdicts" not in html_tables(at), "nothing ran"
    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "60")
    assert "verdicts" in html_tables(run_module(f"{OPS}:product")), "raised: it runs"


def test_module_source_fails_a_wrong_backward(importing):
    at = run_module(f"{OPS}:product_wrong")
    table = verdicts(at)
    assert set(table.loc[table["input"] == "x", "status"]) == {"fail"}
    assert set(table.loc[table["input"] == "w", "status"]) == {"pass"}


def test_a_raising_candidate_gives_error_rows_not_a_traceback(importing):
    at = run_module(f"{OPS}:raising")
    table = verdicts(at)
    assert set(table["status"]) == {"error"}
    assert len(bullets(at)) == len(table)
    assert all("raised ValueError: planted failure" in b for b in bullets(at))
    assert "Verdict: NOT passed: 6 error" in at.error[0].value
    assert "of 6 rows" not in at.error[0].value, "the CLI's wording, not '6 error of 6 rows'"
    assert "No |Δ| maps" in " ".join(w.value for w in at.warning)


def test_a_module_that_cannot_be_imported_is_named(importing):
    at = run_module("no_such_module_here:f")
    assert at.error and "target: cannot import 'no_such_module_here'" in at.error[0].value


def test_the_module_source_asks_for_its_empty_fields(importing):
    at = page("verify")
    at.query_params.update({"source": "module"})
    at.run()
    assert_clean(at)
    assert "Fill in target, reference, inputs" in at.info[0].value


def test_the_time_guard_refuses_a_problem_past_the_limit(monkeypatch):
    """GRADLAB_MAX_SECONDS=1 refuses the seed layer at width 4096 (several seconds per
    dtype), naming the estimate and the limit; the default view still runs under it."""
    import re

    from gradlab.problems.cost import verify_seconds

    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "1")
    at = page("verify")
    at.query_params.update({"problem": "seed", "size": "4096"})
    at.run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    estimate = verify_seconds("seed", (4096,), ("float32", "bfloat16", "float16"))
    assert f"about {estimate:,.1f} s here, over the time limit of 1 s" in message, message
    assert re.search(r"seed at width 4096 in 3 dtypes refused", message), message
    default = page("verify").run()
    assert not default.exception and not default.error, [e.value for e in default.error]
