"""dashboard.urlstate: a config ↔ the URL, one field at a time."""

from __future__ import annotations

import pytest

from dashboard.epsilon import EpsilonView
from dashboard.explorer import ExplorerView
from dashboard.urlstate import from_query, parse_int, to_query, with_fields
from gradlab.core.errors import GradlabError

DEFAULT = ExplorerView()


def test_a_bad_field_keeps_the_good_ones():
    view, errors = from_query(ExplorerView, {"preset": "0", "eps": "-1"}, DEFAULT)
    assert view == ExplorerView(preset=False)
    assert errors == ["eps must be ≥ 0 (got -1)"]


def test_every_bad_field_is_named_in_field_order():
    view, errors = from_query(ExplorerView, {"preset": "0", "eps": "1e400", "m": "0",
                                             "dtype": "float8", "n": "12"}, DEFAULT)
    assert view == ExplorerView(preset=False, n=12)
    assert [e.split()[0] for e in errors] == ["m", "dtype", "eps"]
    assert "'1e400'" in errors[2] and "float8" in errors[1]


def test_a_field_is_named_by_its_url_name():
    _, errors = from_query(ExplorerView, {"placement": "middle"}, DEFAULT)
    assert errors == [
        "placement: eps_placement must be one of inside, outside (got 'middle')"]


@pytest.mark.parametrize("params, words", [
    ({"fd_m": "-3"}, ["fd_m must be ≥ 1 (got -3)"]),
    ({"fd_m": "64"}, ["fd_m must be ≤ 32"]),
    ({"fd_eps": "-1"}, ["fd_eps must be ≥ 0"]),
    ({"m": "0"}, ["m must be ≥ 1"]),
], ids=["fd_m-negative", "fd_m-large", "fd_eps", "m"])
def test_epsilon_fields_are_named_as_in_the_url(params, words):
    view, errors = from_query(EpsilonView, {**params, "seed": "3"}, EpsilonView())
    assert view == EpsilonView(seed=3), "the good field is kept"
    assert len(errors) == 1 and all(w in errors[0] for w in words), errors


def test_fields_that_only_validate_together_are_applied_together():
    view, problems = with_fields(ExplorerView(), {"m": 3, "n": 4})
    assert (view.m, view.n, problems) == (3, 4, {})


@pytest.mark.parametrize("text, value", [("12", 12), ("1e6", 10**6), ("1e23", 10**23),
                                         (" 7 ", 7), ("-3", -3), ("2.0", 2)])
def test_parse_int_reads_exponents_exactly(text, value):
    assert parse_int(text, "m") == value


@pytest.mark.parametrize("text", ["2.5", "many", "inf", "nan", ""])
def test_parse_int_names_the_field(text):
    with pytest.raises(GradlabError, match=r"^m must be an integer"):
        parse_int(text, "m")


def test_round_trip_keeps_float_digits():
    view = ExplorerView(eps=0.123456, scale=3e-7)
    assert from_query(ExplorerView, to_query(view, DEFAULT), DEFAULT) == (view, [])


def test_a_field_is_named_from_the_errors_parameter_not_its_words():
    """urlstate.named reads the GradlabError's parameter: a widget's label from the page's
    table, the URL's name otherwise; an error about another parameter is prefixed."""
    from dashboard.urlstate import named
    from gradlab.core.errors import GradlabError

    own = GradlabError("m must be ≥ 1 (got 0)", "m")
    assert named("m", own) == "m must be ≥ 1 (got 0)"
    assert named("m", own, {"m": "m (outputs)"}) == "m (outputs) must be ≥ 1 (got 0)"
    other = GradlabError("eps_placement must be one of inside, outside", "eps_placement")
    assert named("placement", other) == "placement: eps_placement must be one of inside, outside"
    unnamed = GradlabError("m must look right")  # no parameter: never matched by its words
    assert named("m", unnamed) == "m: m must look right"
