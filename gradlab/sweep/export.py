"""A sweep frame ↔ CSV bytes.

``to_csv_bytes`` writes floats at round-trip precision (Python's ``repr``:
the shortest text that reads back as the same double; NaN and ±inf as
``nan``, ``inf``, ``-inf``), so CSV → frame → CSV gives identical bytes.
``read_csv_bytes`` checks an uploaded file against the schema and refuses
it with one ``CSVError`` that names the file and lists every problem.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter

import numpy as np
import pandas as pd

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.problems.seed.case import PLACEMENTS
from gradlab.problems.seed.gradients import VARIANTS
from gradlab.sweep import schema

__all__ = ["CHOICES", "CSVError", "MAX_COLUMNS", "read_csv_bytes", "to_csv_bytes"]

#: Columns whose values must come from a known set (the charts colour and facet by them).
CHOICES = {"dtype": DTYPE_NAMES, "eps_placement": PLACEMENTS,
           "variant": ("none", *VARIANTS)}
_INT = re.compile(r"[+-]?\d+")
_INT64 = np.iinfo(np.int64)
_SHOWN = 3  # bad values quoted per column
MAX_COLUMNS = 1000  # a sweep has about 60


class CSVError(GradlabError):
    """A CSV that is not a gradlab sweep; ``problems`` lists every reason."""

    def __init__(self, name: str, problems: list[str]):
        self.name = name
        self.problems = list(problems)
        super().__init__(f"{name}: " + "; ".join(self.problems))


def _cell(value, is_float: bool) -> str:
    if is_float:
        return repr(float(value))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value is pd.NA:
        return ""
    return str(value)


def _quoted(text: str) -> str:
    """RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes
    doubled. (Python 3.11's csv writer leaves a lone \\r unquoted.)"""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header, one line per row, ``\\n`` line ends, no index."""
    floats = [pd.api.types.is_float_dtype(frame[c].dtype) for c in frame.columns]
    lines = [",".join(_quoted(str(c)) for c in frame.columns)]
    columns = [frame[c].tolist() for c in frame.columns]
    for values in zip(*columns):
        lines.append(",".join(_quoted(_cell(v, f)) for v, f in zip(values, floats)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise CSVError(name, ["it holds NUL bytes: a binary file, not CSV text"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CSVError(name, [f"it is not UTF-8 text (byte {exc.start} is "
                              f"{data[exc.start:exc.start + 1]!r}): not a CSV file"]) from None


def _parse(text: str, name: str) -> list[list[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise CSVError(name, [f"it is not valid CSV: {exc}"]) from None


def _quote(values: list[tuple[int, str]], total: int) -> str:
    shown = ", ".join(f"{v!r} (line {line})" for line, v in values[:_SHOWN])
    return shown + (f" and {total - _SHOWN} more" if total > _SHOWN else "")


def _column(name: str, kind: str, cells: list[str], lines: list[int] | None = None):
    """(values, problem): the cells as the kind's numpy/pandas values, or what is wrong.
    ``lines``: each cell's line in the file (default: the cells are lines 2, 3, …)."""
    bad: list[tuple[int, str]] = []
    lines = lines if lines is not None else list(range(2, len(cells) + 2))
    if kind == "int":
        values = []
        for line, cell in zip(lines, cells):
            text = cell.strip()
            if _INT.fullmatch(text) and _INT64.min <= int(text) <= _INT64.max:
                values.append(int(text))
            else:
                bad.append((line, cell))
                values.append(0)
        if bad:
            return None, f"column {name}: expected integers, got {_quote(bad, len(bad))}"
        return np.array(values, dtype=np.int64), None
    if kind == "float":
        values = []
        for line, cell in zip(lines, cells):
            text = cell.strip()
            try:
                if "_" in text:  # float() reads "1_0" as 10; a CSV number has no "_"
                    raise ValueError
                values.append(float(text) if text else math.nan)
            except ValueError:
                bad.append((line, cell))
        if bad:
            return None, f"column {name}: expected numbers, got {_quote(bad, len(bad))}"
        return np.array(values, dtype=np.float64), None
    allowed = CHOICES.get(name)
    if allowed:
        bad = [(line, c) for line, c in zip(lines, cells) if c not in allowed]
        if bad:
            return None, (f"column {name}: expected one of {', '.join(allowed)}, got "
                          f"{_quote(bad, len(bad))}")
    return pd.array(cells, dtype="str"), None


def read_csv_bytes(data: bytes, name: str = "upload.csv", limits: Limits = Limits()
                   ) -> pd.DataFrame:
    """The frame of an exported sweep CSV, typed as gradlab/sweep/schema.py says.

    Raises CSVError naming ``name`` and listing every problem: too large for
    ``limits.upload_bytes``, empty, binary or not UTF-8, not CSV, missing or
    repeated columns, ragged lines, no data rows, and values of the wrong type in
    any column present (on the lines of the right length), all in one report.
    Columns beyond the schema are kept, as text.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise CSVError(name, [f"expected the file's bytes, got {type(data).__name__}"])
    if len(data) > limits.upload_bytes:
        raise CSVError(name, [f"it is {len(data) / MiB:,.1f} MiB, over the upload limit of "
                              f"{limits.upload_bytes / MiB:,.1f} MiB"])
    if not data.strip():
        raise CSVError(name, ["the file is empty"])
    try:
        return _read(data, name)
    except CSVError:
        raise
    except Exception as exc:  # noqa: BLE001 (an upload must never crash the caller)
        raise CSVError(name, [f"it could not be read: {type(exc).__name__}: {exc}"]) from None


def _read(data: bytes, name: str) -> pd.DataFrame:
    text = _decode(data, name)
    fields = text.split("\n", 1)[0].count(",") + 1
    if fields > MAX_COLUMNS:
        raise CSVError(name, [f"its header has {fields:,} fields, over {MAX_COLUMNS:,}: "
                              "not a sweep CSV"])
    rows = _parse(text, name)
    if not rows:
        raise CSVError(name, ["the file is empty"])
    header, body = rows[0], rows[1:]
    problems = []
    repeated = sorted(c for c, count in Counter(header).items() if count > 1)
    if repeated:
        problems.append(f"repeated columns: {', '.join(repeated)}")
    blank = [i + 1 for i, c in enumerate(header) if not c.strip()]
    if blank:
        problems.append(f"header fields {', '.join(map(str, blank))} have no name")
    missing = [c for c in schema.COLUMNS if c not in header and c not in schema.BACKFILL]
    if missing:
        problems.append(f"{len(missing)} missing columns: {', '.join(missing)}")
    ragged = [(i + 2, len(row)) for i, row in enumerate(body) if len(row) != len(header)]
    if ragged:
        shown = ", ".join(f"line {line} has {k}" for line, k in ragged[:_SHOWN])
        more = f" and {len(ragged) - _SHOWN} more lines" if len(ragged) > _SHOWN else ""
        problems.append(f"the header has {len(header)} fields but {shown}{more}")
    if not body:
        problems.append("no data rows: the file has only a header")
    # The values too, whatever the shape: every column present is checked on every
    # line of the right length, so one report lists every problem.
    whole = [(i + 2, row) for i, row in enumerate(body) if len(row) == len(header)]
    lines = [line for line, _ in whole]
    columns = {}
    for j, col in enumerate(header):
        kind = schema.COLUMNS[col][0] if col in schema.COLUMNS else "str"
        values, problem = _column(col, kind, [row[j] for _, row in whole], lines)
        if problem:
            problems.append(problem)
        else:
            columns[col] = values
    if problems:
        raise CSVError(name, problems)
    return _backfilled(pd.DataFrame(columns, columns=header))


def _backfilled(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each ``schema.BACKFILL`` column it lacks, holding the value it
    meant then, after the last of the frame's columns that precede it in the schema."""
    order = list(schema.COLUMNS)
    for col, value in schema.BACKFILL.items():
        if col in frame.columns:
            continue
        before = order[:order.index(col)]
        at = max((frame.columns.get_loc(c) + 1 for c in before if c in frame.columns),
                 default=0)
        frame.insert(at, col, pd.array([value] * len(frame),
                                       dtype=schema.PANDAS_DTYPES[schema.kind(col)]))
    return frame
