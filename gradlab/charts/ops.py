"""The op corpus as a grid: one row per op, one column per dtype, each cell filled by
its worst verdict and labelled with its error in units of u (``python -m gradlab ops``'s
rows, gathered per op and dtype by the dashboard's Ops page).

A pure builder: a frame of cells in (columns ``op_name``, ``dtype``, ``status``,
``err_text``, ``err_max_u``, ``entry``, ``input``, ``detail``, ``evidence``,
``matched``, and ``link`` where the cells link somewhere), an ``alt.LayerChart`` out.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from gradlab.core.dtypes import DTYPE_NAMES

__all__ = ["GRID_STATUSES", "LABEL_PX", "ops_grid", "ROW_PX", "STATUS_FILLS", "STATUS_INK"]

#: The statuses of a corpus row, worst first: verify's four, ``error`` (the entry could
#: not be verified) and ``skipped`` (the op could not be checked: no reference, …).
GRID_STATUSES = ("fail", "error", "too-coarse", "degenerate", "pass", "skipped")
#: A cell's fill per status: light where most cells are (pass, skipped), strong where
#: the eye should go (fail red, error dark grey, too-coarse amber, degenerate violet).
STATUS_FILLS = {"fail": "#d62728", "error": "#525252", "too-coarse": "#f2b134",
                "degenerate": "#b6a6e0", "pass": "#b7e4b0", "skipped": "#e6e6e6"}
#: The label's colour on each fill (white on the dark ones).
STATUS_INK = {s: "white" if s in ("fail", "error") else "black" for s in GRID_STATUSES}
#: One op's row, in pixels: a corpus of 550 ops is about 10,000 px tall, so the page
#: draws the ops its filters pick, a few dozen by default.
ROW_PX = 20
#: The room the op names get (the longest, nn.functional.binary_cross_entropy_with_logits,
#: fits).
LABEL_PX = 300


def ops_grid(cells: pd.DataFrame, ops: Sequence[str],
             dtypes: Sequence[str] = DTYPE_NAMES) -> alt.LayerChart:
    """Ops (rows, in the order of ``ops``) × ``dtypes`` (columns, in the table's order):
    each cell filled by its status (``STATUS_FILLS``, the legend listing the statuses
    drawn) and labelled with its ``err_text``; a cell whose ``matched`` is False (a
    status the filter does not pick) is faded. The tooltip gives the op, dtype, status,
    the error in u, the worst entry and input, the rows by status and the evidence;
    a click follows the cell's ``link`` when the frame has one."""
    columns = [d for d in DTYPE_NAMES if d in set(dtypes)]
    present = [s for s in GRID_STATUSES if s in set(cells["status"])]
    base = alt.Chart(cells).encode(
        x=alt.X("dtype:N", title=None, sort=columns, scale=alt.Scale(domain=columns),
                axis=alt.Axis(orient="top", labelAngle=0, labelFontSize=12)),
        y=alt.Y("op_name:N", title=None, sort=list(ops),
                axis=alt.Axis(labelLimit=LABEL_PX, labelFontSize=11, labelOverlap=False)))
    tooltip = [alt.Tooltip("op_name:N", title="op"), alt.Tooltip("dtype:N"),
               alt.Tooltip("status:N", title="verdict"),
               alt.Tooltip("err_max_u:Q", title="err / u (max-norm)", format=".3g"),
               alt.Tooltip("entry:N", title="worst entry"), alt.Tooltip("input:N"),
               alt.Tooltip("detail:N", title="rows"), alt.Tooltip("evidence:N")]
    extra = {"href": alt.Href("link:N")} if "link" in cells else {}
    fill = alt.Color("status:N", title="verdict", sort=present,
                     scale=alt.Scale(domain=present, range=[STATUS_FILLS[s] for s in present]),
                     legend=alt.Legend(orient="top", direction="horizontal"))
    faded = alt.condition("datum.matched", alt.value(1.0), alt.value(0.3))
    rect = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=fill, opacity=faded, tooltip=tooltip, **extra)
    ink = alt.Color("status:N", legend=None, scale=alt.Scale(
        domain=present, range=[STATUS_INK[s] for s in present]))
    text = base.mark_text(fontSize=10).encode(text="err_text:N", color=ink, opacity=faded,
                                              tooltip=tooltip, **extra)
    return alt.layer(rect, text).properties(height=ROW_PX * max(1, len(ops))) \
        .resolve_scale(color="independent")
