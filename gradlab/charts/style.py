"""The look every chart shares: one colour per dtype, on every chart and page."""

from __future__ import annotations

import altair as alt

from gradlab.core.dtypes import DTYPE_NAMES

#: One colour per dtype, the same on every chart and page.
DTYPE_COLORS: dict[str, str] = {
    "float64": "#1f77b4",
    "float32": "#2ca02c",
    "bfloat16": "#ff7f0e",
    "float16": "#d62728",
}


def dtype_scale() -> alt.Scale:
    """The one dtype → colour mapping (all four dtypes, so colours never shift)."""
    return alt.Scale(domain=list(DTYPE_COLORS), range=list(DTYPE_COLORS.values()))


def dtype_color(title: str = "dtype", legend: str = "right") -> alt.Color:
    """The dtype colour channel, in the table's order; ``legend`` is its side
    (faceted charts put it at the bottom, to leave the width to the panels)."""
    return alt.Color("dtype:N", title=title, sort=list(DTYPE_NAMES), scale=dtype_scale(),
                     legend=alt.Legend(orient=legend))
