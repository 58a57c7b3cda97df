"""AppTest helpers for the page tests (a unique module name: tests/conftest.py is
also "conftest", so page tests import from here)."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # the pages import the dashboard package
    sys.path.insert(0, str(ROOT))

from dashboard.pages import PAGES_DIR  # noqa: E402

TIMEOUT = 60


def page(name: str) -> AppTest:
    """An AppTest of dashboard/views/<name>.py (not yet run)."""
    return AppTest.from_file(str(PAGES_DIR / f"{name}.py"), default_timeout=TIMEOUT)


def app() -> AppTest:
    """An AppTest of the whole app (app.py: the navigation over dashboard/pages.py's
    PAGES), not yet run."""
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


def specs(at: AppTest) -> list[dict]:
    """The Vega-Lite specs of every chart on the page, as Streamlit sends them."""
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def chart_data(at: AppTest, index: int) -> list[pd.DataFrame]:
    """The data sets Streamlit sent with chart ``index`` (it moves them out of the spec)."""
    proto = at.get("vega_lite_chart")[index].proto
    frames = [convert_arrow_bytes_to_pandas_df(ds.data.data) for ds in proto.datasets]
    if proto.HasField("data"):
        frames.append(convert_arrow_bytes_to_pandas_df(proto.data.data))
    return frames


def scales(spec, found=None) -> list[dict]:
    """Every ``scale`` object anywhere in a spec (layers, facets, encodings)."""
    found = [] if found is None else found
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "scale" and isinstance(value, dict):
                found.append(value)
            else:
                scales(value, found)
    elif isinstance(spec, list):
        for value in spec:
            scales(value, found)
    return found


def has_log_scale(spec: dict) -> bool:
    return any(s.get("type") == "log" for s in scales(spec))


def assert_clean(at: AppTest) -> None:
    """No exception element, and no error element."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


class TableCells(HTMLParser):
    """The cells' text of each ``dashboard.tables.html_table`` in an HTML body, by its
    ``data-table`` name; a ``<br>`` inside a cell is a newline."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.rows: list[list[str]] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and "data-table" in attrs:
            self.rows = self.tables.setdefault(attrs["data-table"], [])
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("td", "th") and self.rows is not None:
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.rows = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_tables(at: AppTest) -> dict[str, pd.DataFrame]:
    """Every table the page drew with ``dashboard.tables.html_table``, by name: a frame
    of the cells' text under the headers."""
    parser = TableCells()
    for element in at.get("html"):
        parser.feed(element.proto.body)
    return {name: pd.DataFrame(rows[1:], columns=rows[0])
            for name, rows in parser.tables.items() if rows}
