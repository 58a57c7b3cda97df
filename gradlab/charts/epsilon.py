"""The ε study's charts: error and exact magnitude against ε, per dtype, one
panel per placement × activation scale. Flags (ε rounds to 0, u underflows,
a non-finite backward) are drawn as shaped marks in a band above the data,
so a point whose error cannot sit on a log axis is still visible, not a
dropped row."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from gradlab.charts.style import dtype_color
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.problems.seed.case import PLACEMENTS
from gradlab.problems.seed.gradients import METHODS
from gradlab.studies.epsilon import FLAGS, error_frame, flag_frame

#: One dash per method (solid, dashed, dotted).
METHOD_DASHES = [[1, 0], [6, 3], [2, 2]]
def flag_levels(values: pd.Series) -> dict[str, float]:
    """The y of each flag kind: a band above the largest finite value, its rows
    spaced by a tenth of the data's log range (at least half a decade), so the
    marks stay apart however many decades the axis spans."""
    finite = values[np.isfinite(values) & (values > 0)]
    top = float(finite.max()) if not finite.empty else 1.0
    bottom = float(finite.min()) if not finite.empty else 1.0
    step = max(0.5, (math.log10(top) - math.log10(bottom)) / 10)
    base = math.log10(top) + step
    return {flag: 10.0 ** (base + step * k) for k, flag in enumerate(FLAGS)}


def _eps_order(frame: pd.DataFrame) -> list[str]:
    pairs = sorted(set(zip(frame["eps"], frame["eps_label"])))
    return [label for _, label in pairs]


def _combined(values: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """Values and flags in one frame (a faceted layer chart shares one data set)."""
    levels = flag_levels(values["value"])
    flags = flags.assign(layer="flag", value=flags["flag"].map(levels))
    drawable = values[np.isfinite(values["value"]) & (values["value"] > 0)]
    return pd.concat([drawable.assign(layer="value"), flags], ignore_index=True)


def _study_chart(data: pd.DataFrame, order: list[str], y_title: str, value_layer,
                 width: int, height: int) -> alt.FacetChart:
    x = alt.X("eps_label:O", title="ε", sort=order, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title=y_title, scale=alt.Scale(type="log"),
              axis=alt.Axis(format="~e", grid=True))
    flags = alt.Chart().transform_filter(alt.datum.layer == "flag").mark_point(
        size=110, filled=True, opacity=0.95, stroke="black", strokeWidth=0.6).encode(
        x=x, y=y, xOffset=alt.XOffset("dtype:N", sort=list(DTYPE_NAMES)),
        color=dtype_color(),
        shape=alt.Shape("flag:N", title="flag", sort=list(FLAGS),
                        scale=alt.Scale(domain=list(FLAGS), range=list(FLAGS.values()))),
        tooltip=[alt.Tooltip("flag:N"), alt.Tooltip("dtype:N"),
                 alt.Tooltip("eps_label:N", title="ε"), alt.Tooltip("scale:Q"),
                 alt.Tooltip("eps_placement:N", title="placement"),
                 alt.Tooltip("detail:N")])
    values = value_layer(alt.Chart().transform_filter(alt.datum.layer == "value"), x, y)
    return (alt.layer(values, flags, data=data)
            .properties(width=width, height=height)
            .facet(row=alt.Row("eps_placement:N", title="ε placement",
                               sort=list(PLACEMENTS)),
                   column=alt.Column("scale:Q", title="activation scale (W × scale)",
                                     sort="descending", header=alt.Header(format="~e")))
            .resolve_scale(x="shared", y="shared"))


def error_chart(frame: pd.DataFrame, methods=METHODS, width: int = 230,
                height: int = 220) -> alt.FacetChart:
    """Each method's relative error against ε, per dtype (colour) and method
    (dash), one panel per placement × scale; flags above the data."""
    errors = error_frame(frame, methods)
    data = _combined(errors, flag_frame(frame, methods))

    def lines(base, x, y):
        tooltip = [alt.Tooltip("method:N"), alt.Tooltip("dtype:N"),
                   alt.Tooltip("eps_label:N", title="ε"), alt.Tooltip("scale:Q"),
                   alt.Tooltip("eps_placement:N", title="placement"),
                   alt.Tooltip("value:Q", title="relative error", format=".3e"),
                   alt.Tooltip("err_u:Q", title="in units of u", format=".3g"),
                   alt.Tooltip("status:N", title="verdict")]
        line = base.mark_line(strokeWidth=1.8).encode(
            x=x, y=y, color=dtype_color(),
            strokeDash=alt.StrokeDash("method:N", title="method", sort=list(METHODS),
                                      scale=alt.Scale(domain=list(METHODS),
                                                      range=METHOD_DASHES)),
            detail="method:N", tooltip=tooltip)
        points = base.mark_point(filled=True, size=22, opacity=0.9).encode(
            x=x, y=y, color=dtype_color(), detail="method:N", tooltip=tooltip)
        return alt.layer(line, points)

    return _study_chart(data, _eps_order(frame), "relative error of dL/dW", lines,
                        width, height)


def magnitude_chart(frame: pd.DataFrame, width: int = 230, height: int = 200) -> alt.FacetChart:
    """The exact gradient's magnitude max |dL/dW| against ε per dtype, one
    panel per placement × scale; flags above the data."""
    values = frame[["dtype", "eps", "eps_label", "eps_placement", "scale"]].copy()
    values["value"] = frame["ref_max_abs"].astype(float)
    data = _combined(values, flag_frame(frame))

    def lines(base, x, y):
        return base.mark_line(point=True, strokeWidth=1.8).encode(
            x=x, y=y, color=dtype_color(),
            tooltip=[alt.Tooltip("dtype:N"), alt.Tooltip("eps_label:N", title="ε"),
                     alt.Tooltip("scale:Q"),
                     alt.Tooltip("eps_placement:N", title="placement"),
                     alt.Tooltip("value:Q", title="max |dL/dW| (exact)", format=".3e")])

    return _study_chart(data, _eps_order(frame), "max |dL/dW| (exact)", lines, width, height)
