"""AppTest of the Explorer page (views/explorer.py) and the app shell (app.py)."""

from __future__ import annotations

import pytest
from apptest_helpers import ROOT, TIMEOUT, assert_clean, has_log_scale, page, specs
from streamlit.testing.v1 import AppTest

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.problems.seed.gradients import VARIANTS

K = "explorer."


@pytest.fixture(scope="module")
def default():
    """The page as a newcomer first sees it (run once for the module's read-only tests)."""
    return page("explorer").run()


def table(at):
    return at.dataframe[0].value


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
    analytic = t[t["method"] != "autograd"]
    assert set(analytic["verdict"]) == {"pass"}, analytic[["dtype", "method", "verdict"]]
    assert analytic["evidence"].str.startswith("rounding:").all()


def test_small_case_draws_inputs_r_and_j(default):
    titles = [str(s.get("title")) for s in specs(default)]
    assert any(t.startswith("R (m × m)") for t in titles), titles
    assert any("J = kron" in t for t in titles), titles
    assert any(t.startswith("W (m × n)") for t in titles), titles


def test_delta_heatmap_has_a_log_colour_scale(default):
    delta = [s for s in specs(default) if "− autograd|" in str(s.get("title"))]
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
    t = table(at)
    f64 = t[(t["dtype"] == "float64") & (t["method"] != "autograd")]
    assert set(f64["verdict"]) == {"fail"}, f64[["method", "verdict", "evidence"]]
    assert at.info and variant in at.info[0].value


def test_query_params_restore_the_view():
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "5", "n": "7", "batch": "3",
                            "dtype": "bfloat16", "eps": "1e-05", "placement": "outside",
                            "seed": "4", "method": "structured"})
    at.run()
    assert_clean(at)
    assert at.toggle(key=K + "preset").value is False
    assert at.number_input(key=K + "m").value == 5
    assert at.number_input(key=K + "n").value == 7
    assert at.number_input(key=K + "batch").value == 3
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
    at.number_input(key=K + "m").set_value(3).run()
    assert dict(at.query_params) == {"preset": "0", "m": "3"}
    at.toggle(key=K + "preset").set_value(True).run()
    assert not at.number_input, "the preset hides the size widgets"
    at.toggle(key=K + "preset").set_value(False).run()
    assert at.number_input(key=K + "m").value == 3


def test_bad_url_parameter_warns_and_keeps_the_default():
    at = page("explorer")
    at.query_params.update({"m": "many", "dtype": "float8"})
    at.run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "m must be an integer" in text
    assert "float8" in text
    assert "the seed notebook" in at.subheader[0].value


def test_size_past_the_guard_is_an_error_not_a_traceback():
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "1000000", "n": "1000000"})
    at.run()
    assert not at.exception
    assert at.error, "the guard shows an error element"
    message = at.error[0].value
    assert "m=1000000" in message and "n=1000000" in message and "budget" in message
    assert not at.dataframe, "nothing ran"


def test_guard_reads_the_environment(monkeypatch):
    monkeypatch.setenv("GRADLAB_CASE_BUDGET_MIB", "1")
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "300", "n": "300"})
    at.run()
    assert not at.exception
    assert at.error and "over the memory budget of 1 MiB" in at.error[0].value


def test_large_case_pools_the_heat_maps_and_skips_inputs():
    at = page("explorer")
    at.query_params.update({"preset": "0", "m": "96", "n": "100"})
    at.run()
    assert_clean(at)
    titles = [str(s.get("title")) for s in specs(at)]
    assert any("pooled" in t for t in titles), titles
    assert not any(t.startswith("R (m × m)") for t in titles)


def test_app_opens_on_the_explorer_and_switches_to_epsilon():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert at.title[0].value == "Explorer"
    at.switch_page("dashboard/views/epsilon.py").run()
    assert_clean(at)
    assert at.title[0].value == "Epsilon"


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
    assert at.metric[3].value == "degenerate"
    t = table(at)
    assert (t[(t["dtype"] == "float16") & (t["method"] != "autograd")]["verdict"]
            == "degenerate").all()
    assert (t[t["dtype"] == "bfloat16"]["non-finite"] == 0).all()
