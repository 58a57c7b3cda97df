"""How the dashboard writes numbers, sizes and labels, and filters rows by label: the
formatters every page shares (no Streamlit). A page's own module
(dashboard/<page>.py) takes its helpers from here, never from another page's module.

The list syntax of the text widgets (``parse_list``, ``list_text``, ``value_label``)
lives in gradlab/core/lists.py: the CLI reads the same.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from gradlab.core.lists import value_label

#: How a table prints its numbers: as the CLI does (three significant digits, "—" for
#: none).
NUMBER_FORMAT = "{:.3g}"


def number_text(x) -> str:
    """A table number as the CLI prints it: three significant digits, "—" for none."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return NUMBER_FORMAT.format(float(x) + 0.0)


def short_number(value: float) -> str:
    """A number for a menu or a title: "0", else the shortest text that reads back as
    the same float ("0.123456", "1e-05"), never a rounded "1e-01"."""
    text = repr(float(value) + 0.0)  # + 0.0: no "-0"
    return text.removesuffix(".0")


def size_text(nbytes: int) -> str:
    """Bytes for a caption: 12.0 KiB, 10.1 MiB, 7,451 GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1024:,.1f} KiB"


def plain(text: str) -> str:
    """``text`` with Markdown's (and Streamlit's LaTeX) special characters escaped."""
    return re.sub(r"([\\`*_$~<>\[\]#|])", r"\\\1", str(text))


def labels(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` as labels, in sorted value order."""
    if column not in frame:
        return []
    return [value_label(v) for v in sorted(frame[column].dropna().unique().tolist())]


def keep_rows(frame: pd.DataFrame, picks: dict[str, str]) -> pd.DataFrame:
    """The rows whose ``column`` has the label ``picks[column]`` ("" keeps all)."""
    for column, label in picks.items():
        if label and column in frame:
            frame = frame[frame[column].map(value_label) == label]
    return frame
