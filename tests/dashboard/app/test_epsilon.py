"""AppTest of the Epsilon page (views/epsilon.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from apptest_helpers import (
    assert_clean,
    chart_data,
    has_log_scale,
    html_tables,
    page,
    scales,
    specs,
)

K = "epsilon."


@pytest.fixture(scope="module")
def default():
    return page("epsilon").run()


def flags_table(at):
    """The flagged-points table (its cells' text), or None."""
    return html_tables(at).get("flags")


def test_default_renders(default):
    assert_clean(default)
    assert len(specs(default)) == 3, "magnitude, error and finite-difference charts"
    assert dict(default.query_params) == {}


def test_default_flags_float16_pitfalls_as_rows(default):
    flags = flags_table(default)
    assert flags is not None
    assert set(flags["dtype"]) == {"float16"}
    kinds = set(flags["flag"])
    assert {"ε rounds to 0", "u underflows to 0", "backward NaN", "backward inf"} <= kinds
    tiny = flags[(flags["scale"] == "0.0001") & (flags["placement"] == "inside")]
    assert set(tiny[tiny["ε"] == "1e-8"]["flag"]) >= {"backward NaN", "u underflows to 0"}
    assert "autograd" in " ".join(tiny[(tiny["ε"] == "1e-6")
                                       & (tiny["flag"] == "backward inf")]["detail"])


def test_flags_are_drawn_in_strips_above_the_data(default):
    for index, spec in enumerate(specs(default)[:2]):
        shape_scales = [s for s in scales(spec) if "ε rounds to 0" in s.get("domain", [])]
        assert shape_scales, "the flag shapes have a legend"
        frames = chart_data(default, index)
        flags = pd.concat([f for f in frames if "flag" in f], ignore_index=True)
        assert set(flags["flag"]) == {"ε rounds to 0", "u underflows to 0", "backward NaN",
                                      "backward inf"}
        values = pd.concat([f for f in frames if "flag" not in f], ignore_index=True)
        assert (values["value"] > 0).all(), "only drawable values on the log axis"
        assert "1e+7" not in str(spec), "no flag band on the data's axis"


def test_charts_use_log_scales(default):
    magnitude, error, fd = specs(default)
    assert has_log_scale(magnitude)
    assert has_log_scale(error)
    fd_log = [s for s in scales(fd) if s.get("type") == "log"]
    assert len(fd_log) >= 2, "step h and the error both on log axes"


def test_finite_difference_optimum_table(default):
    best = [f.value for f in default.dataframe if "measured optimum h" in f.value.columns][0]
    assert list(best["dtype"]) == ["float64", "float32", "bfloat16", "float16"]
    f32 = best[best["dtype"] == "float32"].iloc[0]
    assert 1e-3 <= f32["measured optimum h"] <= 5e-2


def test_dropping_float16_clears_the_flags():
    at = page("epsilon").run()
    at.multiselect(key=K + "dtypes").unselect("float16").run()
    assert_clean(at)
    assert flags_table(at) is None
    assert at.success, "a plain 'nothing flagged' message"
    assert dict(at.query_params) == {"dtypes": "float64,float32,bfloat16"}


def test_query_params_restore_the_view():
    at = page("epsilon")
    at.query_params.update({"m": "8", "seed": "2", "dtypes": "float32,float16",
                            "methods": "autograd,kron", "fd_m": "4", "fd_eps": "1e-05"})
    at.run()
    assert_clean(at)
    assert at.text_input(key=K + "m").value == "8"
    assert at.text_input(key=K + "seed").value == "2"
    assert at.multiselect(key=K + "dtypes").value == ["float32", "float16"]
    assert at.multiselect(key=K + "methods").value == ["autograd", "kron"]
    assert at.text_input(key=K + "fd_m").value == "4"
    assert at.selectbox(key=K + "fd_eps").value == 1e-5
    points = [f.value for f in at.dataframe if "notes" in f.value.columns][0]
    assert set(points["dtype"]) == {"float32", "float16"}
    assert set(points["m"]) == {8}


def test_no_dtype_is_an_error_not_a_traceback():
    at = page("epsilon").run()
    at.multiselect(key=K + "dtypes").set_value([]).run()
    assert not at.exception
    assert at.error and "dtypes" in at.error[0].value


@pytest.mark.parametrize("params, words", [
    ({"m": "100000"}, ("m must be ≤",)),
    ({"fd_m": "64"}, ("fd_m must be ≤",)),
], ids=["study-too-big", "fd-too-big"])
def test_oversized_url_is_refused_with_a_message(params, words):
    at = page("epsilon")
    at.query_params.update(params)
    at.run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert all(w in text for w in words), text
    assert len(specs(at)) == 3, "the default view still renders"


def test_oversized_widget_value_is_an_error_naming_the_widget():
    """A typed value's error names the box by its label (the view's WIDGETS table)."""
    from dashboard.epsilon import EpsilonView

    at = page("epsilon").run()
    at.text_input(key=K + "m").set_value("1e23").run()
    assert not at.exception
    label = EpsilonView.WIDGETS["m"]
    assert label == at.text_input(key=K + "m").label
    assert at.error and at.error[0].value.startswith(
        f"{label} must be ≤ 256 for the ε study (got 1000000")


def test_bad_fd_m_in_the_url_is_named_fd_m_and_the_rest_is_kept():
    at = page("epsilon")
    at.query_params.update({"fd_m": "-3", "m": "8"})
    at.run()
    assert not at.exception and not at.error
    text = " ".join(w.value for w in at.warning)
    assert "fd_m must be ≥ 1 (got -3)" in text and "m must" not in text.replace("fd_m", "")
    assert at.text_input(key=K + "m").value == "8"
    assert at.text_input(key=K + "fd_m").value == "8", "fd_m's default"


def test_url_fd_eps_keeps_its_digits():
    at = page("epsilon")
    at.query_params.update({"fd_eps": "1.5e-05"})
    at.run()
    assert_clean(at)
    assert "1.5e-05" in at.selectbox(key=K + "fd_eps").options
