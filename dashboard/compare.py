"""The Compare page's pure part: what each uploaded sweep holds, and its rows matched
point for point with the other files', so the overlay compares like with like.

A point is a row's case and variant (``schema.CASE_COLUMNS``: m, n, batch, dtype, ε,
placement, scale, seed, preset, variant). Two files computed from the same points
differ only through where and how they were computed (torch and gradlab versions,
kernels, thread count, device); files of different grids (other seeds, say) would
differ through their inputs, so only the points present in every file are drawn.

Also the page's view config (``CompareView``: the drawing widgets, round-tripped
through the URL by dashboard/urlstate.py). No Streamlit here; the page
(views/compare.py) stays thin.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dashboard.formatting import labels, short_number
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.provenance import PROVENANCE_COLUMNS
from gradlab.sweep.schema import CASE_COLUMNS

#: View field → the result column it filters ("" keeps every value, aggregated): the
#: Sweep page's filters of the same name, less scale and batch.
COMPARE_PICKS = {"pick_eps": "eps", "pick_placement": "eps_placement",
                 "pick_variant": "variant"}


@dataclass(frozen=True)
class CompareView:
    """The Compare page's drawing widgets (the uploads themselves are not in the URL)."""

    method: str = "structured"
    x: str = "n"
    agg: str = "max"
    error_method: str = "structured"
    pick_eps: str = ""
    pick_placement: str = ""
    pick_variant: str = ""


#: Where a file was computed (the summary shows each): the provenance columns that say
#: what computed it, not where or when (worker, timestamp).
PROVENANCE = tuple(c for c in PROVENANCE_COLUMNS if c not in ("worker", "timestamp"))
#: The grid's columns the summary lists, with their headers.
GRID = {"seed": "seeds", "eps": "ε", "eps_placement": "placements", "variant": "variants",
        "scale": "scales", "batch": "batch"}


def values_text(frame: pd.DataFrame, column: str, most: int = 6) -> str:
    """The distinct values of ``column``, in order ("0, 1e-06, 1e-05"); a long list
    is shortened to its ends and its count."""
    if column not in frame:
        return ""
    values = sorted(frame[column].dropna().unique().tolist())
    texts = [short_number(v) if isinstance(v, float) else str(v) for v in values]
    if len(texts) > most:
        return f"{texts[0]} … {texts[-1]} ({len(texts)} values)"
    return ", ".join(texts)


def summary(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One line per file: its rows, its grid (sizes, dtypes, seeds, ε, …) and where
    it was computed (versions, device, threads, and when)."""
    lines = []
    for name, frame in frames.items():
        square = bool((frame["m"] == frame["n"]).all())
        line = {"file": name, "rows": len(frame),
                "dtypes": ", ".join(d for d in DTYPE_NAMES if d in set(frame["dtype"])),
                "m = n" if square else "m × n": values_text(frame, "m") if square else
                f"{values_text(frame, 'm')} × {values_text(frame, 'n')}"}
        for column, title in GRID.items():
            line[title] = values_text(frame, column)
        for column in PROVENANCE:
            if column in frame:
                line[column] = ", ".join(labels(frame, column))
        if "timestamp" in frame and len(frame):
            stamps = sorted(frame["timestamp"].astype(str))
            line["computed"] = stamps[0] if stamps[0] == stamps[-1] else \
                f"{stamps[0]} … {stamps[-1]}"
        lines.append(line)
    return pd.DataFrame(lines)


@dataclass(frozen=True)
class Matched:
    """Each file's rows at the points every file has (in one order), how many points
    that is, and, per file, the rows left out (points some other file lacks) and
    the rows dropped as repeats of a point within the file (the first is kept)."""

    frames: dict[str, pd.DataFrame]
    points: int
    left_out: dict[str, int]
    repeated: dict[str, int]

    @property
    def complete(self) -> bool:
        """Whether every row of every file is compared."""
        return not any(self.left_out.values()) and not any(self.repeated.values())


def match_points(frames: dict[str, pd.DataFrame]) -> Matched:
    """The rows of every file at the points present in every file, matched on
    ``CASE_COLUMNS``."""
    keys = list(CASE_COLUMNS)
    unique, repeated = {}, {}
    for name, frame in frames.items():
        kept = frame.drop_duplicates(subset=keys, keep="first")
        unique[name], repeated[name] = kept, len(frame) - len(kept)
    common = None
    for frame in unique.values():
        points = frame[keys]
        common = points if common is None else common.merge(points, on=keys, how="inner")
    if common is None:
        return Matched({}, 0, {}, {})
    matched = {name: common.merge(frame, on=keys, how="left")[list(frame.columns)]
               for name, frame in unique.items()}
    left_out = {name: len(unique[name]) - len(common) for name in frames}
    return Matched(matched, len(common), left_out, repeated)


def grid_differences(frames: dict[str, pd.DataFrame]) -> list[str]:
    """For each case column whose values differ between files, one line naming each
    file's values ("seed: laptop.csv 0; server.csv 1")."""
    out = []
    for column in CASE_COLUMNS:
        texts = {name: values_text(frame, column) for name, frame in frames.items()}
        if len(set(texts.values())) > 1:
            shown = "; ".join(f"{name} {text or '—'}" for name, text in texts.items())
            out.append(f"{column}: {shown}")
    return out
