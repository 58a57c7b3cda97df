"""dashboard/tables.py's HTML tables and the Verify page's verdict table built on them:
escaped text, numbers as the CLI prints them, "—" for none, each check's error over
its threshold."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "app"))
from apptest_helpers import TableCells  # noqa: E402

from dashboard.tables import TABLE_CLASS, html_table, text_cell  # noqa: E402
from dashboard.verify import CHECKS, verdict_table, verdict_table_html  # noqa: E402
from gradlab.verification.report import COLUMNS, STATUS_COLORS  # noqa: E402


def cells(body: str) -> dict[str, list[list[str]]]:
    parser = TableCells()
    parser.feed(body)
    return parser.tables


def test_text_is_escaped_and_missing_values_read_as_a_dash():
    frame = pd.DataFrame({"name": ["<b>x</b>", None, ""], "value": [1.23456, math.nan, 2e-7]})
    body = html_table(frame, numbers=("value",), name="t")
    assert "<b>x</b>" not in body and "&lt;b&gt;x&lt;/b&gt;" in body
    assert cells(body)["t"] == [["name", "value"], ["<b>x</b>", "1.23"], ["—", "—"],
                                ["—", "2e-07"]]
    assert f'class="{TABLE_CLASS}"' in body and 'data-table="t"' in body


def test_numbers_already_text_are_kept_and_right_aligned():
    body = html_table(pd.DataFrame({"n": ["—", "7"]}), numbers=("n",), name="t")
    assert cells(body)["t"][1:] == [["—"], ["7"]]
    assert body.count("text-align:right") == 3, "the header and both cells"


def test_helps_become_header_tooltips_and_cells_their_own_html():
    frame = pd.DataFrame({"a": [1], "b": [2]})
    body = html_table(frame, cells={"b": lambda v: f"<i>{v}</i>"},
                      helps={"a": 'what "a" is'}, name="t")
    assert 'title="what &quot;a&quot; is"' in body and "<i>2</i>" in body


def test_a_long_table_scrolls_downwards_in_its_frame():
    assert "max-height:480px;overflow-y:auto" in html_table(pd.DataFrame({"a": [1]}),
                                                            max_height=480)
    assert "max-height" not in html_table(pd.DataFrame({"a": [1]}))


@pytest.mark.parametrize("value, text", [(None, "—"), (math.nan, "—"), ("", "—"),
                                         ("a&b", "a&amp;b"), (3, "3")])
def test_text_cell(value, text):
    assert text_cell(value) == text


def report_frame(rows: list[dict]) -> pd.DataFrame:
    """A verify report's frame with only ``rows``' values set (the rest missing)."""
    empty = {c: (math.nan if col.kind == "float" else "") for c, col in COLUMNS.items()}
    return pd.DataFrame([{**empty, **row} for row in rows])


FAILING = {"dtype": "float32", "input": "W", "shape": "256x256", "status": "fail",
           "err_max_u": 2.03e7, "threshold_max_u": 14.9, "autograd_max_u": 3.0,
           "err_fro_u": 1.2, "threshold_fro_u": 11.1, "autograd_fro_u": 3.55,
           "err_scale_u": 1.67e7, "threshold_scale_u": 7.03, "autograd_scale_u": 2.02}


def test_each_check_shows_its_error_over_its_threshold():
    body = verdict_table_html(report_frame([FAILING]))
    (header, row), = cells(body).values()
    assert header == ["dtype", "input", "status", *CHECKS.values()], "no Taylor: no rate"
    assert row[:3] == ["float32", "W\n256x256", "fail"]
    assert row[3:] == ["2.03e+07\n> 14.9", "1.2\n≤ 11.1", "1.67e+07\n> 7.03"]
    assert body.count(f'color:{STATUS_COLORS["fail"]}') == 1 + 2, "the status, two checks"
    assert 'title="autograd 3 u; threshold 14.9 u = 2 × autograd + floor"' in body


def test_a_check_not_made_says_so_and_a_row_without_numbers_shows_dashes():
    float64 = {**FAILING, "dtype": "float64", "status": "pass", "err_max_u": 0.5,
               "err_scale_u": 0.1, "threshold_scale_u": math.nan, "taylor_rate": 2.0}
    error = {"dtype": "float16", "input": "W", "shape": "256x256", "status": "error"}
    table = cells(verdict_table_html(report_frame([float64, error])))["verdicts"]
    assert table[0][-1] == "Taylor"
    assert table[1][5:] == ["0.1\nnot checked", "2.00"]
    assert table[2][3:] == ["—", "—", "—", "—"]


def test_the_table_holds_every_row_under_the_report_s_display_names():
    table = verdict_table(report_frame([FAILING, {**FAILING, "input": "x"}]))
    assert list(table["input"]) == [("W", "256x256"), ("x", "256x256")]
    assert table["err/u"][0] == (2.03e7, 14.9, 3.0)
