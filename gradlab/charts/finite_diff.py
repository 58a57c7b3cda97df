"""The finite-difference step study's chart: the V of error against step h."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from gradlab.charts.style import dtype_color, log_axis
from gradlab.studies.finite_diff import optimum, theory_step

__all__ = ["v_curve_chart"]


def v_curve_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Error against step h per dtype (log-log): the V, with ε_mach^(1/3)
    (dashed rule) and the measured optimum (diamond) for each dtype, and
    the steps where W + h == W (the estimate is exactly 0) as open circles."""
    frame = frame.copy()
    frame["mark"] = np.where(frame["zero_estimate"], "estimate exactly 0 (W + h == W)",
                             "estimate ≠ 0")
    h_axis = alt.X("h:Q", title="step h", scale=alt.Scale(type="log"),
                   axis=alt.Axis(format=".0e", grid=True))
    err_axis = alt.Y("rel_err:Q", title="max |FD − exact| / max |exact|",
                     scale=alt.Scale(type="log"), axis=log_axis())
    color = dtype_color(dtypes=frame["dtype"])  # the legend lists the dtypes drawn
    tooltip = [alt.Tooltip("dtype:N"), alt.Tooltip("h:Q", format=".2e"),
               alt.Tooltip("rel_err:Q", title="relative error", format=".3e"),
               alt.Tooltip("abs_err:Q", title="absolute error", format=".3e"),
               alt.Tooltip("mark:N", title="estimate")]
    finite = frame[np.isfinite(frame["rel_err"]) & (frame["rel_err"] > 0)]
    line = alt.Chart(finite).mark_line(point=False, strokeWidth=2).encode(
        x=h_axis, y=err_axis, color=color, tooltip=tooltip)
    zeros = alt.Chart(finite[finite["zero_estimate"]]).mark_point(
        shape="circle", filled=False, size=40).encode(
        x=h_axis, y=err_axis, color=color, tooltip=tooltip)
    best = optimum(frame)
    theory = pd.DataFrame({"dtype": list(dict.fromkeys(frame["dtype"]))})
    theory["h_theory"] = [theory_step(d) for d in theory["dtype"]]
    rules = alt.Chart(theory).mark_rule(strokeDash=[6, 4], strokeWidth=1.5).encode(
        x=alt.X("h_theory:Q", scale=alt.Scale(type="log")), color=color,
        tooltip=[alt.Tooltip("dtype:N"),
                 alt.Tooltip("h_theory:Q", title="ε_mach^(1/3)", format=".2e")])
    stars = alt.Chart(best).mark_point(shape="diamond", filled=True, size=160,
                                       stroke="black", strokeWidth=1).encode(
        x=alt.X("h_best:Q", scale=alt.Scale(type="log")),
        y=alt.Y("rel_err_best:Q", scale=alt.Scale(type="log")), color=color,
        tooltip=[alt.Tooltip("dtype:N"),
                 alt.Tooltip("h_best:Q", title="measured optimum h", format=".2e"),
                 alt.Tooltip("rel_err_best:Q", title="its relative error", format=".2e"),
                 alt.Tooltip("h_theory:Q", title="ε_mach^(1/3)", format=".2e")])
    return alt.layer(line, zeros, rules, stars).properties(
        height=380, title=alt.TitleParams(
            "Finite-difference error against step h",
            subtitle="dashed: ε_mach^(1/3) · ◆ measured optimum · ○ estimate exactly 0 "
                     "(W + h == W)"))
