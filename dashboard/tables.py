"""Small tables as HTML that the browser lays out (no Streamlit): every cell's whole
text shows, a column is as wide as its content needs and the table wraps its headers
and text to the main column's width, at 1024 px as at 1440 px.

``st.dataframe`` draws on a canvas: a column keeps the width of its first content (a
longer number after a rerun is cut to "03e+07") and a wide table scrolls sideways,
so the columns a user compares against can sit off-screen. The pages keep it for
the long tables one sorts and scrolls (the sweep's rows, the op grid) and show the
short ones that are read, not sorted, through ``html_table``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from dashboard.formatting import number_text

__all__ = ["html_table", "TABLE_CLASS", "text_cell"]

#: The class of every such table's frame (the browser tests find the tables by it).
TABLE_CLASS = "gradlab-table"
#: Colours that read on the light and the dark theme alike (the text inherits).
_RULE = "rgba(128,128,128,0.28)"
_STYLE = {
    "frame": "overflow-x:auto;margin:0 0 0.5rem 0",
    "table": ("border-collapse:collapse;width:100%;font-size:0.875rem;line-height:1.35;"
              "font-variant-numeric:tabular-nums"),
    "th": (f"padding:4px 6px;border-bottom:2px solid {_RULE};vertical-align:bottom;"
           "font-weight:600;text-align:left;white-space:normal"),
    "td": f"padding:4px 6px;border-bottom:1px solid {_RULE};vertical-align:top",
    "number": "text-align:right;white-space:nowrap",
    "text": "text-align:left;white-space:normal",
}


def text_cell(value) -> str:
    """A text value as a cell shows it, escaped: "—" for a missing one."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return "—"
    return html.escape(str(value))


def html_table(frame: pd.DataFrame, numbers: Sequence[str] = (),
               cells: Mapping[str, Callable[[object], str]] | None = None,
               helps: Mapping[str, str] | None = None, name: str = "",
               max_height: int | None = None) -> str:
    """``frame`` as an HTML table.

    - ``numbers``: right-aligned columns, printed as the CLI prints them (three
      significant digits, "—" for none) unless already text;
    - ``cells``: columns made by their function (value → HTML, escaped by it);
    - any other value: escaped text that wraps;
    - ``helps``: a header's tooltip; ``name``: the frame's ``data-table`` (for tests);
    - ``max_height`` (px): a longer table scrolls inside its frame, downwards only.
    """
    cells = dict(cells or {})
    helps = dict(helps or {})
    head = "".join(
        f'<th style="{_STYLE["th"]}{";text-align:right" if c in numbers else ""}"'
        + (f' title="{html.escape(helps[c])}"' if c in helps else "")
        + f">{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        row = []
        for column, value in zip(frame.columns, values):
            if column in cells:
                text = cells[column](value)
                kind = "number" if column in numbers else "text"
            elif column in numbers:
                shown = value if isinstance(value, str) else number_text(value)
                text, kind = html.escape(shown), "number"
            else:
                text, kind = text_cell(value), "text"
            row.append(f'<td style="{_STYLE["td"]};{_STYLE[kind]}">{text}</td>')
        rows.append(f"<tr>{''.join(row)}</tr>")
    return (f'<div class="{TABLE_CLASS}" data-table="{html.escape(name)}" '
            f'style="{_STYLE["frame"]}{_height(max_height)}"><table style="{_STYLE["table"]}">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _height(max_height: int | None) -> str:
    return "" if max_height is None else f";max-height:{int(max_height)}px;overflow-y:auto"
