"""The ε study's charts: error and exact magnitude against ε, per dtype, one
panel per placement × activation scale.

Flags (ε rounds to 0, u underflows, a NaN or inf backward) are not values: each
panel draws them in a strip of their own above the data, one row per kind of
flag, never on the data's log axis, so a flagged point reads as a flag and the
points that are drawn stay data. Within each ε, the dtypes sit side by side (an
offset per dtype), so lines that coincide, such as the exact magnitude from
each dtype's rounded inputs, stay visible instead of hiding under the last one.

Panels are laid out two to a row (placement across, scale down), sized so the
chart fits the main column at 1024 px with the sidebar open.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from gradlab.charts.style import dtype_color, legend_at, log_axis, present_dtypes
from gradlab.problems.seed.case import PLACEMENTS
from gradlab.problems.seed.gradients import METHODS
from gradlab.studies.epsilon import FLAGS, error_frame, flag_frame

__all__ = [
    "AXIS_PX", "error_chart", "FLAG_ROW_PX", "log_domain", "magnitude_chart", "METHOD_DASHES"
]

#: One dash per method (solid, dashed, dotted).
METHOD_DASHES = [[1, 0], [6, 3], [2, 2]]
#: A flag strip's height per kind of flag shown, in pixels.
FLAG_ROW_PX = 16
#: The y axes' width (the flag names), the same for strips and data so they align.
AXIS_PX = 100


def _eps_order(frame: pd.DataFrame) -> list[str]:
    pairs = sorted(set(zip(frame["eps"], frame["eps_label"])))
    return [label for _, label in pairs]


def log_domain(values: pd.Series) -> list[float]:
    """[low, high] of the finite positive values, widened to whole decades (one
    shared y range for every panel); [0.1, 1] when there are none."""
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.empty:
        return [0.1, 1.0]
    lo, hi = float(finite.min()), float(finite.max())
    low, high = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    # log10 rounds: just under a power of ten it can give the power itself.
    low -= 10.0 ** low > lo
    high += 10.0 ** high < hi
    return [10.0 ** low, 10.0 ** max(high, low + 1)]


def _x(order: list[str], labels: bool) -> alt.X:
    axis = alt.Axis(labelAngle=0) if labels else alt.Axis(labels=False, ticks=False,
                                                          title=None, domain=False)
    return alt.X("eps_label:O", title="ε", sort=order, axis=axis,
                 scale=alt.Scale(domain=order))


def _offset(dtypes: list[str]) -> alt.XOffset:
    return alt.XOffset("dtype:N", sort=dtypes, scale=alt.Scale(domain=dtypes))


def _flag_strip(flags: pd.DataFrame, order: list[str], dtypes: list[str],
                kinds: list[str], width: int, title: str) -> alt.Chart:
    """The flags of one panel: a row per kind, a mark per flagged (ε, dtype)."""
    tooltip = [alt.Tooltip("flag:N"), alt.Tooltip("dtype:N"),
               alt.Tooltip("eps_label:N", title="ε"), alt.Tooltip("scale:Q"),
               alt.Tooltip("eps_placement:N", title="placement"), alt.Tooltip("detail:N")]
    return alt.Chart(flags).mark_point(
        size=70, filled=True, opacity=0.95, stroke="black", strokeWidth=0.5).encode(
        x=_x(order, labels=False), xOffset=_offset(dtypes),
        y=alt.Y("flag:N", title=None, sort=kinds, scale=alt.Scale(domain=kinds),
                axis=alt.Axis(labelLimit=AXIS_PX, minExtent=AXIS_PX, grid=True)),
        color=dtype_color(legend="bottom", dtypes=dtypes, stacked=True),
        shape=alt.Shape("flag:N", title="flag", sort=kinds, legend=legend_at("bottom", True),
                        scale=alt.Scale(domain=kinds, range=[FLAGS[k] for k in kinds])),
        tooltip=tooltip,
    ).properties(width=width, height=FLAG_ROW_PX * len(kinds), title=title)


def _study_chart(values: pd.DataFrame, flags: pd.DataFrame, order: list[str],
                 y_title: str, value_layer, width: int, height: int) -> alt.VConcatChart:
    """Panels placement × scale, each its flag strip (when any flag is raised
    anywhere) above its data on one shared log y range."""
    dtypes = present_dtypes(values["dtype"])
    kinds = [k for k in FLAGS if k in set(flags["flag"])]
    y = alt.Y("value:Q", title=y_title,
              scale=alt.Scale(type="log", domain=log_domain(values["value"])),
              axis=log_axis(minExtent=AXIS_PX))
    drawable = values[np.isfinite(values["value"]) & (values["value"] > 0)]
    placements = [p for p in PLACEMENTS if p in set(values["eps_placement"])]
    rows = []
    for scale in sorted(set(values["scale"]), reverse=True):
        panels = []
        for placement in placements:
            title = f"{placement} · activation scale {scale:g}"
            here = drawable[(drawable["scale"] == scale)
                            & (drawable["eps_placement"] == placement)]
            data = value_layer(alt.Chart(here), _x(order, labels=True), y, _offset(dtypes),
                               dtypes).properties(width=width, height=height)
            if kinds:
                strip = _flag_strip(flags[(flags["scale"] == scale)
                                          & (flags["eps_placement"] == placement)],
                                    order, dtypes, kinds, width, title)
                panels.append(alt.vconcat(strip, data, spacing=4))
            else:
                panels.append(data.properties(title=title))
        rows.append(alt.hconcat(*panels, spacing=12))
    return alt.vconcat(*rows, spacing=18).resolve_scale(color="shared", shape="shared")


def error_chart(frame: pd.DataFrame, methods=METHODS, width: int = 140,
                height: int = 150) -> alt.VConcatChart:
    """Each method's relative error against ε, per dtype (colour, side by side)
    and method (dash), one panel per placement × scale; flags in a strip above."""
    errors = error_frame(frame, methods)

    def lines(base, x, y, offset, dtypes):
        tooltip = [alt.Tooltip("method:N"), alt.Tooltip("dtype:N"),
                   alt.Tooltip("eps_label:N", title="ε"), alt.Tooltip("scale:Q"),
                   alt.Tooltip("eps_placement:N", title="placement"),
                   alt.Tooltip("value:Q", title="relative error", format=".3e"),
                   alt.Tooltip("err_u:Q", title="in units of u", format=".3g"),
                   alt.Tooltip("status:N", title="verdict")]
        color = dtype_color(legend="bottom", dtypes=dtypes, stacked=True)
        line = base.mark_line(strokeWidth=1.6).encode(
            x=x, y=y, xOffset=offset, color=color,
            strokeDash=alt.StrokeDash("method:N", title="method", sort=list(METHODS),
                                      legend=legend_at("bottom", stacked=True),
                                      scale=alt.Scale(domain=list(METHODS),
                                                      range=METHOD_DASHES)),
            detail="method:N", tooltip=tooltip)
        points = base.mark_point(filled=True, size=18, opacity=0.9).encode(
            x=x, y=y, xOffset=offset, color=color, detail="method:N", tooltip=tooltip)
        return alt.layer(line, points)

    return _study_chart(errors, flag_frame(frame, methods), _eps_order(frame),
                        "relative error of dL/dW", lines, width, height)


def magnitude_chart(frame: pd.DataFrame, width: int = 140,
                    height: int = 130) -> alt.VConcatChart:
    """The exact gradient's magnitude max |dL/dW| against ε per dtype (colour, side
    by side, so coinciding lines all show), one panel per placement × scale;
    flags in a strip above."""
    values = frame[["dtype", "eps", "eps_label", "eps_placement", "scale"]].copy()
    values["value"] = frame["ref_max_abs"].astype(float)

    def lines(base, x, y, offset, dtypes):
        return base.mark_line(point=alt.OverlayMarkDef(filled=True, size=28),
                              strokeWidth=1.6).encode(
            x=x, y=y, xOffset=offset,
            color=dtype_color(legend="bottom", dtypes=dtypes, stacked=True),
            tooltip=[alt.Tooltip("dtype:N"), alt.Tooltip("eps_label:N", title="ε"),
                     alt.Tooltip("scale:Q"),
                     alt.Tooltip("eps_placement:N", title="placement"),
                     alt.Tooltip("value:Q", title="max |dL/dW| (exact)", format=".3e")])

    return _study_chart(values, flag_frame(frame), _eps_order(frame),
                        "max |dL/dW| (exact)", lines, width, height)
