"""The one list syntax (gradlab/core/lists.py), read by the CLI and the dashboard."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dashboard.sweep
from gradlab.core.errors import GradlabError
from gradlab.core.lists import list_text, parse_list

NAMES = ("float64", "float32", "bfloat16", "float16")


def test_the_dashboard_reads_lists_with_the_same_functions():
    assert dashboard.sweep.parse_list is parse_list
    assert dashboard.sweep.list_text is list_text


@pytest.mark.parametrize("text, kind, expected", [
    ("2..64", int, (2, 4, 8, 16, 32, 64)),
    ("2,4,8", int, (2, 4, 8)),
    (" 2 ,4 ; 8\t16 ", int, (2, 4, 8, 16)),
    ("9007199254740993", int, (9007199254740993,)),  # past 2⁵³: read exactly
    ("1e3, 2E3", int, (1000, 2000)),
    ("-1e-5,0", float, (-1e-5, 0.0)),
    ("float32, float16", str, ("float32", "float16")),
    ("all", str, NAMES),
], ids=["range", "commas", "mixed-separators", "big-int", "int-exponent", "floats", "names",
        "all"])
def test_parse_list(text, kind, expected):
    assert parse_list(text, kind, "--x", NAMES) == expected


@pytest.mark.parametrize("text, kind, words", [
    ("2,,4", int, ["--x: an empty item in '2,,4'", "2, 4, 8 or 2..64"]),
    ("2, 4,", int, ["--x: an empty item"]),
    ("float8", str, ["--x: each must be one of float64, float32, bfloat16, float16 or all",
                     "'float8'"]),
    ("all,float32", str, ["--x: each must be one of", "'all'"]),
    ("0.5..4", int, ["--x: '0.5' is not an integer"]),
    ("1e400", int, ["--x: '1e400' is not an integer"]),
    ("ten", float, ["--x: 'ten' is not a number", "0, 1e-6, 1e-5"]),
], ids=["empty-item", "trailing-comma", "unknown-name", "all-among-names", "fraction-range",
        "inf-int", "word"])
def test_a_bad_list_names_the_parameter(text, kind, words):
    with pytest.raises(GradlabError) as info:
        parse_list(text, kind, "--x", NAMES)
    assert all(w in str(info.value) for w in words), str(info.value)


@given(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True).map(tuple))
def test_list_text_reads_back_names(values):
    assert parse_list(list_text(values), str, "x", NAMES) == values
