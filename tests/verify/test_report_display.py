"""The report in a notebook: a short repr, a styled HTML table with the text report's
column names (the dashboard's too), a chart that marks the rows that do not pass and
shows the check along the truth, and the chart saved as HTML, PNG or SVG."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import altair as alt
import numpy as np
import pandas as pd
import pytest
import torch
import verify_functions as fn

import gradlab
from dashboard.verify import verdict_table
from gradlab.charts.export import FORMATS, chart_bytes, chart_title, file_stem
from gradlab.charts.verify import CHECK_TITLES, RING, delta_heatmap, verify_undrawable
from gradlab.core.errors import GradlabError
from gradlab.verification.report import (
    CHART_SUFFIXES,
    DISPLAY_NAMES,
    STATUS_COLORS,
    TEXT_COLUMNS,
    Report,
    empty_row,
)


def half_x(x, w):
    """∂x half what it should be (a wrong factor), ∂w right."""
    return fn.square_half(x) + w


def square_plus(x, w):
    return x * x + w


def on_one_thread(*args, **kwargs) -> Report:
    """``gradlab.verify`` on one thread, as conftest.py runs each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return gradlab.verify(*args, **kwargs)
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mixed() -> Report:
    """float32 and float64, x failing and w passing: rows fail, pass, fail, pass."""
    return on_one_thread(half_x, square_plus, {"x": (4, 8), "w": (8,)},
                         dtypes=("float32", "float64"))


@pytest.fixture(scope="module")
def passing() -> Report:
    return on_one_thread(fn.square, fn.square_reference, {"x": (4, 8)})


def crafted(statuses: dict[str, str], **values) -> Report:
    """A report with one float32 row per input, of the given status, its numbers
    missing (NaN, or ``values``), as an error row has them."""
    rows = []
    for name, status in statuses.items():
        row = empty_row()
        row.update(dtype="float32", input=name, status=status, u=2.0**-24,
                   evidence=f"{status}: why {name}", **values)
        rows.append(row)
    provenance = {"torch_version": torch.__version__, "device": "cpu", "threads": 2}
    return Report(tuple(rows), "cand", "ref", ("float32",), 0,
                  tuple((n, "4 drawn") for n in statuses), provenance)


ALL_STATUSES = {"a": "pass", "b": "degenerate", "c": "fail", "d": "too-coarse", "e": "error"}


class Cells(HTMLParser):
    """The header cells, and per body row its data-status and cell texts."""

    def __init__(self):
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[tuple[str, list[str]]] = []
        self.summaries: list[str] = []
        self._in: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and dict(attrs).get("data-status"):
            self.rows.append((dict(attrs)["data-status"], []))
        if tag in ("th", "td", "summary"):
            self._in, self._text = tag, ""

    def handle_endtag(self, tag):
        if tag == self._in == "th":
            self.headers.append(self._text.strip())
        elif tag == "summary":
            self.summaries.append(self._text.strip())
            self._in = "td"  # the summary sits in the evidence cell
        elif tag == self._in == "td":
            self.rows[-1][1].append(self._text.strip())
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text += data


def parsed(report: Report) -> Cells:
    cells = Cells()
    cells.feed(report._repr_html_())
    return cells


def text_headers(report: Report) -> list[str]:
    """The text report's table header (its fourth line), cells two spaces apart."""
    return re.split(r" {2,}", str(report).splitlines()[3].strip())


# ---------------------------------------------------------------------- repr


def test_repr_is_the_text_reports_first_lines_and_the_failing_rows(mixed):
    text, full = repr(mixed), str(mixed)
    lines = text.splitlines()
    assert not text.startswith("Report("), "not the dataclass dump"
    assert lines[:2] == full.splitlines()[:2]
    assert lines[0] == mixed.title()
    assert lines[1].endswith("· NOT passed: 2 pass, 2 fail")
    assert "float32 x: bug:" in text and "float64 x: bug:" in text, "the failing rows' evidence"
    assert "float32 w:" not in text and "float64 w:" not in text, "no passing row"
    failing = [ln.split()[:3] for ln in lines if ln.split()[:1] in (["float32"], ["float64"])
               and len(ln.split()) > 3 and ln.split()[2] in ("fail", "pass")]
    assert failing == [["float32", "x", "fail"], ["float64", "x", "fail"]]
    assert len(lines) < len(full.splitlines())
    assert "float32  w      pass" in full, "str stays the full table"


def test_repr_of_a_passing_report_is_three_lines(passing):
    lines = repr(passing).splitlines()
    assert len(lines) == 3 and lines[1].endswith("· passed: 3 pass")


def test_counts_read_as_words_never_of_n_rows_nor_doubled():
    boom = gradlab.verify(fn.Boom.apply, fn.square_reference, {"x": (4,)},
                          dtypes=("float32",))
    text = repr(boom)
    assert "NOT passed: 1 error" in text.splitlines()[1]
    assert "float32 x: error: the candidate raised RuntimeError" in text
    assert "error: error:" not in text and "of 1 rows" not in text
    report = crafted(ALL_STATUSES)
    assert report.verdict() == ("NOT passed: 1 pass, 1 fail, 1 error, 1 too-coarse, "
                                "1 degenerate")


# ---------------------------------------------------------------------- HTML


def test_html_has_the_text_reports_and_the_dashboards_column_names(mixed):
    cells = parsed(mixed)
    assert cells.headers == [*text_headers(mixed), "evidence"]
    assert cells.headers == [DISPLAY_NAMES[c] for c in (*TEXT_COLUMNS, "evidence")]
    dashboard = list(verdict_table(mixed.frame).columns)
    assert "status" in dashboard and "err/u" in dashboard
    assert set(dashboard) <= set(DISPLAY_NAMES.values()), "one table of names"
    assert set(dashboard) <= set(cells.headers), "the dashboard's headers are the CLI's"


def test_html_puts_the_failing_rows_first_with_the_evidence_folded(mixed):
    cells = parsed(mixed)
    order = [(row[0], row[1][0], row[1][1]) for row in cells.rows]
    assert order == [("fail", "float32", "x"), ("fail", "float64", "x"),
                     ("pass", "float32", "w"), ("pass", "float64", "w")]
    html = mixed._repr_html_()
    assert html.count("<details>") == 4 and html.count("<summary") == 4
    assert all(s.startswith(("bug:", "rounding:")) for s in cells.summaries), cells.summaries
    assert "worst entry [" in html, "a failing row's worst entries, when opened"
    assert "<style" not in html and "<script" not in html and "http" not in html, "inline CSS"


def test_html_colours_each_status():
    html = crafted(ALL_STATUSES)._repr_html_()
    for status, color in STATUS_COLORS.items():
        badge = re.search(rf'<span style="background:{color};[^"]*">{status}</span>', html)
        assert badge, status
    assert STATUS_COLORS["pass"] != STATUS_COLORS["fail"] != STATUS_COLORS["too-coarse"]
    assert STATUS_COLORS["degenerate"] == STATUS_COLORS["error"], "both grey"
    statuses = [row[0] for row in parsed(crafted(ALL_STATUSES)).rows]
    assert statuses == ["fail", "error", "too-coarse", "degenerate", "pass"]


def test_a_missing_number_shows_a_dash_never_none_or_nan():
    report = crafted({"x": "error", "w": "pass"}, err_max_u=None, taylor_rate=math.nan)
    for text in (str(report), repr(report)):
        table = text.splitlines()[3:6]
        assert not any(re.search(r"\bNone\b|\bnan\b", ln) for ln in table), table
        assert "—" in table[1]
    for _, row in parsed(report).rows:
        assert "None" not in row and "nan" not in row and "" not in row, row
        assert row.count("—") == len(TEXT_COLUMNS) - 3, "every number, grad in, non-finite"


# --------------------------------------------------------------------- chart


def layers(spec: dict) -> list[dict]:
    return spec["spec"]["layer"]


def test_the_chart_rings_the_rows_that_do_not_pass(mixed, passing):
    spec = mixed.chart().to_dict()
    rings = [la for la in layers(spec) if la["mark"].get("filled") is False]
    assert len(rings) == 1
    (ring,) = rings
    assert ring["mark"]["shape"] == RING["shape"] and ring["mark"]["size"] > 70
    stroke = ring["encoding"]["stroke"]
    assert stroke["field"] == "status"
    assert stroke["scale"] == {"domain": ["fail"], "range": [STATUS_COLORS["fail"]]}
    assert "datum.status !== 'pass'" in ring["transform"][0]["filter"]
    assert not [la for la in layers(passing.chart().to_dict())
                if la["mark"].get("filled") is False], "nothing to ring when all pass"


def test_the_chart_has_a_panel_along_the_truth_where_rows_have_it(mixed):
    spec = mixed.chart().to_dict()
    assert spec["facet"]["field"] == "norm" and spec["columns"] == 2
    assert spec["facet"]["sort"] == list(CHECK_TITLES.values())
    data = next(iter(spec["datasets"].values()))
    along = [d for d in data if d["norm"] == CHECK_TITLES["scale"]]
    assert {d["dtype"] for d in along} == {"float32"}, "float64 has no check along the truth"
    assert {d["series"] for d in along} == {"candidate", "autograd", "threshold"}
    only64 = gradlab.verify(fn.square, fn.square_reference, {"x": (4,)}, dtypes=("float64",))
    data64 = next(iter(only64.chart().to_dict()["datasets"].values()))
    assert {d["norm"] for d in data64} <= {CHECK_TITLES["max"], CHECK_TITLES["fro"]}
    assert verify_undrawable(only64.frame).missing == 0, "no check is no missing number"


# ---------------------------------------------------------------- save_chart


@pytest.mark.parametrize("suffix, head", [
    (".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<svg"), (".html", b"<!DOCTYPE html>")])
def test_save_chart_writes_html_png_and_svg(mixed, tmp_path, suffix, head):
    path = mixed.save_chart(tmp_path / f"chart{suffix}")
    data = path.read_bytes()
    assert path.suffix == suffix and len(data) > 1000
    assert data.lstrip()[:len(head)].lower() == head.lower(), data[:40]
    if suffix == ".svg":
        assert b"Candidate vs autograd" in data
    if suffix == ".html":
        assert not re.search(rb'<script[^>]*\ssrc=', data), "every script inline: offline"
        assert b"vegaEmbed" in data


def test_save_chart_refuses_another_suffix_naming_path(mixed, tmp_path):
    with pytest.raises(GradlabError, match=r"^path must end in \.html, \.png, \.svg") as info:
        mixed.save_chart(tmp_path / "chart.pdf")
    assert info.value.parameter == "path" and "chart.pdf" in str(info.value)
    assert tuple(f".{f}" for f in FORMATS) == CHART_SUFFIXES, "the exporter writes each"


def test_a_bare_report_says_where_its_exporter_comes_from(tmp_path):
    from gradlab.verification.run import verify

    bare = verify(fn.square, fn.square_reference, {"x": (4,)}, dtypes=("float32",))
    with pytest.raises(GradlabError, match="chart_bytes"):
        bare.with_charts(lambda frame: None).save_chart(tmp_path / "c.svg")
    saved = bare.with_charts(lambda frame: "chart", lambda chart, fmt: f"{chart} {fmt}".encode())
    assert saved.save_chart(tmp_path / "c.SVG").read_bytes() == b"chart svg"


def test_chart_bytes_and_file_names():
    with pytest.raises(GradlabError, match="^fmt must be one of html, png, svg"):
        chart_bytes({}, "pdf")
    assert file_stem("|candidate − truth|, ∂x") == "candidate-truth-dx"
    assert file_stem("  ") == "chart" and len(file_stem("a" * 200)) == 80
    assert chart_title({"title": {"text": "Δ", "subtitle": "s"}}) == "Δ"
    assert chart_title({"title": ["one", "two"]}) == "one two"
    assert chart_title({}) == ""
    heat = delta_heatmap(np.ones((2, 2)), "|candidate − truth|, ∂x")
    assert chart_title(heat) == "|candidate − truth|, ∂x", "read from the Altair chart"
    untitled = alt.Chart(pd.DataFrame({"n": [1], "e": [2]})).mark_point().encode(
        x="n:Q", y=alt.Y("e:Q", title="error in units of u"))
    assert chart_title(untitled) == "error in units of u", "no title: the y axis names it"
