"""AppTest of the Explorer page (views/explorer.py); the app shell (app.py) is in
test_app.py."""

from __future__ import annotations

import re

import pytest
from apptest_helpers import assert_clean, has_log_scale, html_tables, page, specs

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.problems.seed.gradients import VARIANTS

K = "explorer."


def titles(at) -> list[str]:
    """Each chart's title text (a pooled map adds a subtitle)."""
    return [s["title"]["text"] + " " + s["title"].get("subtitle", "") for s in specs(at)
            if isinstance(s.get("title"), dict)]


@pytest.fixture(scope="module")
def default():
    """The page as a newcomer first sees it (run once for the module's read-only tests)."""
    return page("explorer").run()


def table(at):
    """The numbers table (one row per dtype × method)."""
    return html_tables(at)["metrics"]


def verdicts(at):
    """The verdicts table (one row per dtype × analytic method, evidence wrapped)."""
    return at.table[0].value


def test_default_renders_the_notebook_preset(default):
    assert_clean(default)
    assert default.toggle(key=K + "preset").value is True
    assert "the seed notebook" in default.subheader[0].value
    assert "m=2, n=3" in default.subheader[0].value
    assert default.latex, "the derivation is drawn"


def test_default_view_has_a_clean_url(default):
    assert dict(default.query_params) == {}


def test_metrics_table_covers_every_dtype_and_method(default):
    t = table(default)
    assert list(dict.fromkeys(t["dtype"])) == list(DTYPE_NAMES)
    assert set(t["method"]) == {"autograd", "structured", "kron"}
    v = verdicts(default)
    assert len(v) == len(DTYPE_NAMES) * 2
    assert set(v["verdict"]) == {"pass"}, v
    assert v["evidence"].str.startswith("rounding:").all()


def test_tables_print_numbers_as_the_cli_does(default):
    """autograd's own max |Δ| is "—" (as in the CLI), not "None"; err/u has three
    significant digits, not "1.267e+0"."""
    cells = table(default).to_numpy().ravel().tolist()
    assert all(isinstance(c, str) for c in cells), "text: a NaN would show as None"
    assert "None" not in cells and "—" in cells
    numbers = [c for c in cells if c[:1].isdigit()]
    digits = [c.split("e")[0].replace(".", "").lstrip("0") for c in numbers]
    assert numbers and all(len(d) <= 3 for d in digits), numbers  # three significant digits


def test_small_case_draws_inputs_r_and_j(default):
    shown = titles(default)
    assert any(t.startswith("R (m × m)") for t in shown), shown
    assert any("J = kron" in t for t in shown), shown
    assert any(t.startswith("W (m × n)") for t in shown), shown


def test_delta_heatmap_has_a_log_colour_scale(default):
    delta = [s for s in specs(default) if "− autograd|" in s["title"]["text"]]
    assert delta, "the |Δ| heat map is drawn"
    assert has_log_scale(delta[0])


def test_dtype_widget_changes_the_result(default):
    at = page("explorer").run()
    before = at.metric[1].value
    at.selectbox(key=K + "dtype").set_value("float64").run()
    assert_clean(at)
    assert "float64" in at.subheader[0].value
    assert at.metric[1].value != before
    assert dict(at.query_params) == {"dtype": "float64"}


@pytest.mark.parametrize("variant", sorted(VARIANTS), ids=sorted(VARIANTS))
def test_bug_zoo_variant_shows_beside_rounding(variant):
    at = page("explorer")
    # ε = 1e-3 so that eps-missing has an effect (with ε = 0 it is the correct formula)
    at.query_params.update({"preset": "0", "m": "8", "n": "8", "dtype": "float64",
                            "eps": "0.001", "variant": variant})
    at.run()
    assert not at.exception
    v = verdicts(at)
    f64 = v[v["dtype"] == "float64"]
    assert set(f64["verdict"]) == {"fail"}, f64
    assert at.info and variant in at.info[0].value


def test_query_params_restore_the_view():
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "5", "n": "7", "batch": "3",
                            "dtype": "bfloat16", "eps": "1e-05", "placement": "outside",
                            "seed": "4", "method": "structured"})
    at.run()
    assert_clean(at)
    assert at.toggle(key=K + "preset").value is False
    assert at.text_input(key=K + "m").value == "5"
    assert at.text_input(key=K + "n").value == "7"
    assert at.text_input(key=K + "batch").value == "3"
    assert at.selectbox(key=K + "dtype").value == "bfloat16"
    assert at.selectbox(key=K + "eps").value == 1e-5
    assert at.radio(key=K + "placement").value == "outside"
    assert at.radio(key=K + "method").value == "structured"
    assert "m=5, n=7, batch=3 · bfloat16 · ε=1e-05 (outside)" in at.subheader[0].value
    assert "seed=4" in at.subheader[0].value


def test_a_url_value_off_the_menu_is_kept():
    at = page("explorer")
    at.query_params.update({"eps": "3e-07"})
    at.run()
    assert_clean(at)
    assert at.selectbox(key=K + "eps").value == 3e-7
    assert "ε=3e-07" in at.subheader[0].value


def test_widget_changes_write_only_non_default_fields():
    at = page("explorer").run()
    at.toggle(key=K + "preset").set_value(False).run()
    at.text_input(key=K + "m").set_value("3").run()
    assert dict(at.query_params) == {"preset": "0", "m": "3"}
    at.toggle(key=K + "preset").set_value(True).run()
    assert not at.text_input, "the preset hides the size widgets"
    at.toggle(key=K + "preset").set_value(False).run()
    assert at.text_input(key=K + "m").value == "3"


def test_bad_url_parameter_warns_and_keeps_the_default():
    at = page("explorer")
    at.query_params.update({"m": "many", "dtype": "float8"})
    at.run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "m must be an integer" in text
    assert "float8" in text
    assert "the seed notebook" in at.subheader[0].value


def test_one_bad_url_field_keeps_the_good_ones():
    """?preset=0&eps=-1 stays off the preset; every bad field is named; n is kept."""
    at = page("explorer")
    at.query_params.update({"preset": "0", "eps": "1e400", "m": "0", "dtype": "float8",
                            "n": "5"})
    at.run()
    assert not at.exception and not at.error
    text = " ".join(w.value for w in at.warning)
    assert all(word in text for word in ("eps", "1e400", "m must be ≥ 1", "dtype", "float8"))
    assert at.toggle(key=K + "preset").value is False
    assert "m=8, n=5" in at.subheader[0].value, "n from the URL, m's default"
    at = page("explorer")
    at.query_params.update({"preset": "0", "eps": "-1"})
    at.run()
    assert "eps must be ≥ 0" in at.warning[0].value
    assert at.toggle(key=K + "preset").value is False


def test_url_eps_keeps_its_digits():
    at = page("explorer")
    at.query_params.update({"eps": "0.123456"})
    at.run()
    assert_clean(at)
    box = at.selectbox(key=K + "eps")
    assert box.value == 0.123456 and "0.123456" in box.options
    assert "ε=0.123456" in at.subheader[0].value


@pytest.mark.parametrize("typed, words", [
    ("1e23", ["m=100000000000000000000000", "memory budget"]),
    ("many", ["m (outputs) must be an integer", "'many'"]),  # the box's label
    ("0", ["m (outputs) must be ≥ 1"]),
], ids=["1e23", "word", "zero"])
def test_a_typed_size_is_parsed_not_read_as_1(typed, words):
    """A browser number box reads "1e23" as 1 and runs m = 1; a text box is parsed here."""
    at = page("explorer")
    at.query_params.update({"preset": "0"})
    at.run()
    at.text_input(key=K + "m").set_value(typed).run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert all(w in message for w in words), message
    assert "metrics" not in html_tables(at), "nothing ran"


def test_size_past_the_guard_is_an_error_not_a_traceback():
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "1000000", "n": "1000000"})
    at.run()
    assert not at.exception
    assert at.error, "the guard shows an error element"
    message = at.error[0].value
    assert "m=1000000" in message and "n=1000000" in message and "budget" in message
    assert "metrics" not in html_tables(at), "nothing ran"


def test_guard_reads_the_environment(monkeypatch):
    monkeypatch.setenv("GRADLAB_CASE_BUDGET_MIB", "1")
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "300", "n": "300"})
    at.run()
    assert not at.exception
    assert at.error and "over the memory budget of 1 MiB" in at.error[0].value


def test_the_time_guard_refuses_what_would_run_past_the_limit(monkeypatch):
    """GRADLAB_MAX_SECONDS=5 refuses m = n = 4096 in four dtypes (about 12 s on an idle
    two-core machine), naming the estimate and the limit, before anything runs."""
    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "5")
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "4096", "n": "4096"})
    at.run()
    assert not at.exception and "metrics" not in html_tables(at), "nothing ran"
    message = at.error[0].value
    seconds = float(re.search(r"about ([\d.,]+) s", message)[1].replace(",", ""))
    assert seconds > 5 and "time limit of 5 s (GRADLAB_MAX_SECONDS)" in message
    assert "m=4096, n=4096" in message


def test_under_the_time_limit_the_case_runs(monkeypatch):
    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "5")
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "256", "n": "256"})
    at.run()
    assert_clean(at)
    assert "metrics" in html_tables(at), "the case ran"


@pytest.mark.slow
def test_the_refused_case_runs_once_the_limit_is_raised(monkeypatch):
    monkeypatch.setenv("GRADLAB_MAX_SECONDS", "3600")
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "4096", "n": "4096"})
    at.run(timeout=300)
    assert_clean(at)
    assert "metrics" in html_tables(at), "the case ran"


def test_large_case_pools_the_heat_maps_and_skips_inputs():
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "96", "n": "100"})
    at.run()
    assert_clean(at)
    shown = titles(at)
    assert any("96×100, pooled 3×4" in t for t in shown), shown
    assert not any(t.startswith("R (m × m)") for t in shown)


def test_float16_underflow_is_shown_not_raised():
    """float16 at scale 1e-4: every a² underflows, u = 0, the gradients are NaN."""
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "16", "n": "16", "dtype": "float16",
                            "scale": "0.0001"})
    at.run()
    assert_clean(at)
    notes = " ".join(w.value for w in at.warning)
    assert "u underflows to 0 in float16" in notes
    assert "non-finite" in notes
    assert "Verdict: degenerate" in " ".join(w.value for w in at.warning)
    v = verdicts(at)
    assert (v[v["dtype"] == "float16"]["verdict"] == "degenerate").all()
    t = table(at)
    assert (t[t["dtype"] == "bfloat16"]["non-finite"] == "0").all()


def test_a_mistake_without_effect_reads_0_not_minus_0():
    """eps-missing at ε = 0 is the correct formula: its effect is 0, not "-0"."""
    at = page("explorer")
    at.query_params.update({"preset": "0", "variant": "eps-missing"})
    at.run()
    assert_clean(at)
    text = " ".join([i.value for i in at.info] + [w.value for w in at.warning]
                    + verdicts(at)["evidence"].tolist())
    assert "the mistake leaves this gradient unchanged" in text, text  # judged as correct
    assert "too coarse" not in text, "no resolution limit: the mistake changes nothing"
    assert not re.search(r"(^|[\s(])-0(?![.\d]*e)", text), text
