"""The look every chart shares: one colour per dtype, on every chart and page."""

from __future__ import annotations

from collections.abc import Iterable

import altair as alt

from gradlab.core.dtypes import DTYPE_NAMES

__all__ = [
    "dtype_color", "DTYPE_COLORS", "dtype_scale", "legend_at", "log_axis", "present_dtypes",
    "STATUS_SEVERITY", "status_shape", "STATUS_SHAPES"
]

#: One colour per dtype, the same on every chart and page.
DTYPE_COLORS: dict[str, str] = {
    "float64": "#1f77b4",
    "float32": "#2ca02c",
    "bfloat16": "#ff7f0e",
    "float16": "#d62728",
}
#: One mark shape per verdict status, the same on every chart.
STATUS_SHAPES: dict[str, str] = {
    "pass": "circle",
    "too-coarse": "triangle-up",
    "fail": "cross",
    "degenerate": "square",
}
#: The order a group of points reports its worst verdict in (first is worst).
STATUS_SEVERITY = ("fail", "degenerate", "too-coarse", "pass")
#: A log axis labels only its powers of ten: Vega-Lite's own ticks on a few decades
#: add 2·10ᵏ, 3·10ᵏ and 5·10ᵏ, which read unevenly (1e-16, 3e-16, 2e-15, 1e-14).
DECADE_LABELS = ("abs(log(datum.value) / LN10 - round(log(datum.value) / LN10)) < 1e-6 "
                 "? format(datum.value, '~e') : ''")


def log_axis(**options) -> alt.Axis:
    """The axis of a log scale: labels at the powers of ten only, a grid line at each."""
    return alt.Axis(labelExpr=DECADE_LABELS, grid=True, **options)


def present_dtypes(dtypes: Iterable[str] | None = None) -> list[str]:
    """The dtypes among ``dtypes`` in the table's order (all four for None)."""
    if dtypes is None:
        return list(DTYPE_NAMES)
    wanted = set(dtypes)
    return [d for d in DTYPE_NAMES if d in wanted]


def dtype_scale(dtypes: Iterable[str] | None = None) -> alt.Scale:
    """The one dtype → colour mapping, over the dtypes present (so the legend lists
    only what is drawn); each dtype keeps its own colour whichever are present."""
    domain = present_dtypes(dtypes)
    return alt.Scale(domain=domain, range=[DTYPE_COLORS[d] for d in domain])


def legend_at(side: str = "right", stacked: bool = False) -> alt.Legend:
    """A legend on ``side``; ``stacked``: entries one under another even at the
    bottom, so several legends side by side stay narrow."""
    return alt.Legend(orient=side, **({"direction": "vertical"} if stacked else {}))


def dtype_color(title: str = "dtype", legend: str = "right",
                dtypes: Iterable[str] | None = None, stacked: bool = False) -> alt.Color:
    """The dtype colour channel, in the table's order, over ``dtypes`` (those in the
    data); ``legend`` is its side (faceted charts put it at the bottom, to leave the
    width to the panels)."""
    return alt.Color("dtype:N", title=title, sort=present_dtypes(dtypes),
                     scale=dtype_scale(dtypes), legend=legend_at(legend, stacked))


def status_shape(statuses: Iterable[str], title: str = "verdict",
                 legend: str = "right", stacked: bool = False) -> alt.Shape:
    """The verdict shape channel over the statuses present."""
    present = [s for s in STATUS_SHAPES if s in set(statuses)]
    return alt.Shape("status:N", title=title, sort=present,
                     scale=alt.Scale(domain=present, range=[STATUS_SHAPES[s] for s in present]),
                     legend=legend_at(legend, stacked))
