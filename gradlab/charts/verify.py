"""The chart of a verify report: per input and dtype, the candidate's error, the
autograd's and the threshold, in each check (max-norm, normwise, along the truth where
the report has it: not in float64), on a log axis, the rows that do not pass ringed.

Also a size sweep's chart (``size_chart``: error against size, one line per
dtype) and a |Δ| heat map of one gradient (``delta_heatmap``).

Pure builders: the report's frame (``gradlab.verification.report.COLUMNS``; a
size sweep's adds ``size``) in, an ``alt.Chart`` out. Errors of exactly 0 (a
gradient computed exactly) and rows without numbers (``error`` rows) cannot sit
on a log axis and are left out; ``verify_undrawable`` counts them for a caption.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from gradlab.charts.heatmaps import MAX_SIDE, magnitude_heatmap
from gradlab.charts.style import dtype_color, legend_at, log_axis, status_shape
from gradlab.charts.sweep import Undrawable, undrawable
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.verification.report import STATUS_COLORS, STATUS_ORDER

__all__ = [
    "CHECK_TITLES", "delta_heatmap", "NORM_TITLES", "RING", "SERIES", "SHAPES", "side_by_side",
    "size_chart", "SIZE_DASHES", "size_long", "SIZE_SERIES", "size_undrawable", "verify_chart",
    "verify_long", "verify_undrawable"
]

#: The norms as the chart names them, and each series' frame column per norm.
NORM_TITLES = {"max": "max-norm: max|G − T| / max|T|", "fro": "normwise: ‖G − T‖_F / ‖T‖_F"}
#: The verify chart's checks: the two norms and the check along the truth (its panel
#: drawn where a row has it; float64 has none).
CHECK_TITLES = {**NORM_TITLES, "scale": "along the truth: |⟨G − T, T⟩| / ‖T‖²"}
#: The ring around a candidate whose row does not pass (its stroke the status's colour).
RING = {"shape": "circle", "size": 320, "strokeWidth": 2.5}
SERIES = {"candidate": "err_{norm}", "autograd": "autograd_{norm}",
          "threshold": "threshold_{norm}"}
SHAPES = {"candidate": "circle", "autograd": "diamond"}


def verify_long(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (dtype, input, check, series) with its relative value (the column
    is still called ``norm``), of the rows that have the check: a row judged without
    the check along the truth (float64) has none there, to draw or to count."""
    parts = []
    for norm, title in CHECK_TITLES.items():
        rows = frame[_has_check(frame, norm)]
        for series, column in SERIES.items():
            part = rows[["dtype", "input", "status"]].copy()
            part["norm"], part["series"] = title, series
            part["value"] = pd.to_numeric(rows[column.format(norm=norm)], errors="coerce")
            part["value_u"] = part["value"] / rows["u"]
            parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _has_check(frame: pd.DataFrame, check: str) -> pd.Series:
    """Which rows were judged in ``check``: a threshold there, or no threshold at all
    (an ``error`` or ``degenerate`` row, whose missing numbers count as undrawable)."""
    threshold = pd.to_numeric(frame[f"threshold_{check}"], errors="coerce")
    judged = pd.to_numeric(frame["threshold_max"], errors="coerce").notna()
    return threshold.notna() | ~judged


def verify_undrawable(frame: pd.DataFrame) -> Undrawable:
    """The candidate's errors a log axis cannot draw (0, infinite, missing)."""
    return undrawable(verify_long(frame).query("series == 'candidate'"), "value")


def verify_chart(frame: pd.DataFrame, width: int | None = None) -> alt.FacetChart:
    """Candidate (circle) and autograd (diamond) errors with the threshold (tick)
    per input (x) and dtype (colour, side by side), one panel per check (``width``
    pixels each; default: a step per dtype and input), two panels a row: max-norm and
    normwise, then along the truth where a row has it. A candidate whose row does not
    pass is ringed in its status's colour (``RING``, ``STATUS_COLORS``)."""
    long = verify_long(frame)
    values = long["value"].to_numpy(dtype=float)
    long = long[np.isfinite(values) & (values > 0)]
    dtypes = [d for d in DTYPE_NAMES if d in set(frame["dtype"])]
    inputs = list(dict.fromkeys(frame["input"]))
    x = alt.X("input:N", title="input", sort=inputs, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title="relative error against the truth",
              scale=alt.Scale(type="log"), axis=log_axis())
    offset = alt.XOffset("dtype:N", sort=dtypes)
    tooltip = [alt.Tooltip("input:N"), alt.Tooltip("dtype:N"), alt.Tooltip("series:N"),
               alt.Tooltip("value:Q", title="relative", format=".3e"),
               alt.Tooltip("value_u:Q", title="in u", format=".3g"),
               alt.Tooltip("status:N")]
    base = alt.Chart().encode(x=x, xOffset=offset, y=y,
                              color=dtype_color(legend="bottom", dtypes=dtypes),
                              tooltip=tooltip)
    points = base.transform_filter(alt.datum.series != "threshold").mark_point(
        size=70, filled=True, opacity=0.85).encode(
        shape=alt.Shape("series:N", title="", sort=list(SHAPES),
                        scale=alt.Scale(domain=list(SHAPES), range=list(SHAPES.values())),
                        legend=alt.Legend(orient="bottom")))
    ticks = base.transform_filter(alt.datum.series == "threshold").mark_tick(
        thickness=2, size=14)
    layers = [points, ticks]
    failing = long[(long["series"] == "candidate") & (long["status"] != "pass")]
    if len(failing):
        layers.append(_rings(base, list(failing["status"])))
    chart = alt.layer(*layers, data=long)
    if width is not None:
        chart = chart.properties(width=width)
    return chart.facet(
        facet=alt.Facet("norm:N", title=None, sort=list(CHECK_TITLES.values())), columns=2
    ).properties(title="Candidate vs autograd vs threshold (tick), per input and dtype")


def _rings(base: alt.Chart, statuses: list[str]) -> alt.Chart:
    """A ring around each candidate whose row does not pass, stroked in its status's
    colour, with a legend of the statuses drawn."""
    present = [s for s in STATUS_ORDER if s in set(statuses)]
    stroke = alt.Stroke("status:N", title="not passing", sort=present,
                        scale=alt.Scale(domain=present,
                                        range=[STATUS_COLORS[s] for s in present]),
                        legend=alt.Legend(orient="bottom"))
    return base.transform_filter(
        (alt.datum.series == "candidate") & (alt.datum.status != "pass")
    ).mark_point(filled=False, opacity=1, **RING).encode(stroke=stroke)


#: The size chart's series: the candidate's error (a solid line, its verdict as the
#: marker) and the threshold it is held to (dashed).
SIZE_SERIES = {"candidate": "err_{norm}", "threshold": "threshold_{norm}"}
SIZE_DASHES = {"candidate": [1, 0], "threshold": [5, 3]}


def size_long(frame: pd.DataFrame, input_name: str) -> pd.DataFrame:
    """One row per (size, dtype, norm, series) of input ``input_name``."""
    rows = frame[frame["input"] == input_name]
    parts = []
    for norm, title in NORM_TITLES.items():
        for series, column in SIZE_SERIES.items():
            part = rows[["size", "dtype", "input", "status", "u"]].copy()
            part["norm"], part["series"] = title, series
            part["value"] = pd.to_numeric(rows[column.format(norm=norm)], errors="coerce")
            part["value_u"] = part["value"] / part["u"]
            parts.append(part)
    columns = ["size", "dtype", "input", "status", "u", "norm", "series", "value", "value_u"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def size_undrawable(frame: pd.DataFrame, input_name: str) -> Undrawable:
    """The candidate's errors of ``input_name`` a log axis cannot draw."""
    return undrawable(size_long(frame, input_name).query("series == 'candidate'"), "value")


#: How far apart the dtypes' lines are drawn along a log size axis, as a factor of the
#: size between neighbours: coinciding lines stay visible, as on the Epsilon page.
SIDE_BY_SIDE = 1.06


def side_by_side(sizes: pd.Series, dtypes: pd.Series, order: list[str]) -> pd.Series:
    """Where each point is drawn: its size, moved by SIDE_BY_SIDE per dtype about the
    middle of ``order`` (the tooltip keeps the true size)."""
    middle = (len(order) - 1) / 2
    shift = dtypes.map({d: SIDE_BY_SIDE ** (i - middle) for i, d in enumerate(order)})
    return sizes.astype(float) * shift.astype(float)


def size_chart(frame: pd.DataFrame, input_name: str, width: int = 220,
               height: int = 220) -> alt.FacetChart:
    """The error of ∂``input_name`` against the problem's size: one line per dtype
    (colour), its verdict at each size as the marker's shape, and the threshold
    err ≤ 2·autograd + (c + b·κ)·u as a dashed line of the same colour; one panel per
    norm, log axes. The dtypes are drawn side by side (``side_by_side``), so lines
    that coincide all show."""
    long = size_long(frame, input_name)
    values = long["value"].to_numpy(dtype=float)
    long = long[np.isfinite(values) & (values > 0)].copy()
    dtypes = [d for d in DTYPE_NAMES if d in set(frame["dtype"])]
    long["drawn_at"] = side_by_side(long["size"], long["dtype"], dtypes)
    x = alt.X("drawn_at:Q", title="size", scale=alt.Scale(type="log"),
              axis=alt.Axis(format="~s", grid=True))
    y = alt.Y("value:Q", title=f"relative error of ∂{input_name}",
              scale=alt.Scale(type="log"), axis=log_axis())
    color = dtype_color(legend="bottom", dtypes=dtypes, stacked=True)
    tooltip = [alt.Tooltip("size:Q"), alt.Tooltip("dtype:N"), alt.Tooltip("series:N"),
               alt.Tooltip("value:Q", title="relative", format=".3e"),
               alt.Tooltip("value_u:Q", title="in u", format=".3g"),
               alt.Tooltip("status:N", title="verdict")]
    base = alt.Chart().encode(x=x, y=y, color=color, tooltip=tooltip)
    lines = base.mark_line(strokeWidth=1.8).encode(
        detail="series:N",
        strokeDash=alt.StrokeDash("series:N", title="", sort=list(SIZE_DASHES),
                                  scale=alt.Scale(domain=list(SIZE_DASHES),
                                                  range=list(SIZE_DASHES.values())),
                                  legend=legend_at("bottom", stacked=True)))
    candidate = long[long["series"] == "candidate"]
    points = base.transform_filter(alt.datum.series == "candidate").mark_point(
        filled=True, size=70, opacity=0.95).encode(
        shape=status_shape(candidate["status"], legend="bottom", stacked=True))
    return (alt.layer(lines, points, data=long).properties(width=width, height=height)
            .facet(column=alt.Column("norm:N", title=None, sort=list(NORM_TITLES.values())))
            .properties(title=f"∂{input_name}: candidate (solid) and threshold (dashed) "
                              "against size"))


def delta_heatmap(delta, title: str, max_side: int = MAX_SIDE) -> alt.LayerChart:
    """|Δ| per element of a 2-D (or 1-D) gradient on a log colour scale, pooled to
    at most ``max_side`` cells a side (each block its largest |Δ|), exact zeros grey
    and non-finite entries black (``heatmaps.magnitude_heatmap``)."""
    return magnitude_heatmap(delta, title, value_title="|Δ|", max_side=max_side)
