"""The chart of a verify report: per input and dtype, the candidate's error, the
composite's and the threshold, in both norms, on a log axis.

A pure builder: the report's frame (``gradlab.verification.report.COLUMNS``) in,
an ``alt.Chart`` out. Errors of exactly 0 (a gradient computed exactly) and
rows without numbers (``error`` rows) cannot sit on a log axis and are left out;
``verify_undrawable`` counts them for a caption.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from gradlab.charts.style import dtype_color
from gradlab.charts.sweep import Undrawable, undrawable
from gradlab.core.dtypes import DTYPE_NAMES

#: The norms as the chart names them, and each series' frame column per norm.
NORM_TITLES = {"max": "max-norm: max|G − T| / max|T|", "fro": "normwise: ‖G − T‖_F / ‖T‖_F"}
SERIES = {"candidate": "err_{norm}", "composite": "baseline_{norm}",
          "threshold": "threshold_{norm}"}
SHAPES = {"candidate": "circle", "composite": "diamond"}


def verify_long(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (dtype, input, norm, series) with its relative value."""
    parts = []
    for norm, title in NORM_TITLES.items():
        for series, column in SERIES.items():
            part = frame[["dtype", "input", "status"]].copy()
            part["norm"], part["series"] = title, series
            part["value"] = pd.to_numeric(frame[column.format(norm=norm)], errors="coerce")
            part["value_u"] = part["value"] / frame["u"]
            parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def verify_undrawable(frame: pd.DataFrame) -> Undrawable:
    """The candidate's errors a log axis cannot draw (0, infinite, missing)."""
    return undrawable(verify_long(frame).query("series == 'candidate'"), "value")


def verify_chart(frame: pd.DataFrame) -> alt.FacetChart:
    """Candidate (circle) and composite (diamond) errors with the threshold (tick)
    per input (x) and dtype (colour, side by side), one panel per norm."""
    long = verify_long(frame)
    values = long["value"].to_numpy(dtype=float)
    long = long[np.isfinite(values) & (values > 0)]
    dtypes = [d for d in DTYPE_NAMES if d in set(frame["dtype"])]
    inputs = list(dict.fromkeys(frame["input"]))
    x = alt.X("input:N", title="input", sort=inputs, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title="relative error against the truth",
              scale=alt.Scale(type="log"), axis=alt.Axis(format="~e", grid=True))
    offset = alt.XOffset("dtype:N", sort=dtypes)
    tooltip = [alt.Tooltip("input:N"), alt.Tooltip("dtype:N"), alt.Tooltip("series:N"),
               alt.Tooltip("value:Q", title="relative", format=".3e"),
               alt.Tooltip("value_u:Q", title="in u", format=".3g"),
               alt.Tooltip("status:N")]
    base = alt.Chart().encode(x=x, xOffset=offset, y=y, color=dtype_color(legend="bottom"),
                              tooltip=tooltip)
    points = base.transform_filter(alt.datum.series != "threshold").mark_point(
        size=70, filled=True, opacity=0.85).encode(
        shape=alt.Shape("series:N", title="", sort=list(SHAPES),
                        scale=alt.Scale(domain=list(SHAPES), range=list(SHAPES.values())),
                        legend=alt.Legend(orient="bottom")))
    ticks = base.transform_filter(alt.datum.series == "threshold").mark_tick(
        thickness=2, size=14)
    return alt.layer(points, ticks, data=long).facet(
        column=alt.Column("norm:N", title=None, sort=list(NORM_TITLES.values()))
    ).properties(title="Candidate vs composite vs threshold (tick), per input and dtype")
