"""dashboard/formatting.py: the formatters every page shares."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboard.formatting import keep_rows, labels, number_text, plain, short_number, size_text
from gradlab.core.lists import value_label


@pytest.mark.parametrize("value, text", [
    (None, "—"), (math.nan, "—"), (-0.0, "0"), (1.2671, "1.27"), (6.517e-8, "6.52e-08"),
], ids=["none", "nan", "negative-zero", "err-u", "abs-err"])
def test_number_text_is_the_cli_s(value, text):
    assert number_text(value) == text


@pytest.mark.parametrize("value, text", [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (1e-5, "1e-05"), (0.1, "0.1"),
    (0.123456, "0.123456"),
], ids=["zero", "negative-zero", "one", "small", "tenth", "many-digits"])
def test_short_number_reads_back_as_the_same_float(value, text):
    assert short_number(value) == text
    assert float(text) == value


@pytest.mark.parametrize("nbytes, text", [
    (12 * 1024, "12.0 KiB"), (int(10.1 * 2**20), "10.1 MiB"), (7451 * 2**30, "7,451.0 GiB"),
], ids=["kib", "mib", "gib"])
def test_size_text(nbytes, text):
    assert size_text(nbytes) == text


def test_labels_and_keep_rows_filter_by_label():
    frame = pd.DataFrame({"eps": [1e-5, 0.0, 1e-5, None], "variant": ["a", "b", "a", "b"]})
    assert labels(frame, "eps") == [value_label(0.0), value_label(1e-5)]
    assert labels(frame, "missing") == []
    kept = keep_rows(frame, {"eps": value_label(1e-5), "variant": "", "missing": "x"})
    assert kept.index.tolist() == [0, 2]


def test_plain_escapes_markdown():
    assert plain("a*b_c $x$ [l](u) #") == r"a\*b\_c \$x\$ \[l\](u) \#"
