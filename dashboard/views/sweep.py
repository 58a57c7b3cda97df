"""Sweep: a grid of cases, max |Δ| against dimension, the table and its CSV."""

from __future__ import annotations

import streamlit as st

from dashboard import ui
from dashboard.formatting import keep_rows, labels, size_text
from dashboard.sweep import NO_FACET, PLAN_PX, SWEEP_PICKS, SweepForm, SweepView, csv_name
from dashboard.urlstate import to_query
from gradlab.charts import sweep as charts
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.problems.seed.case import PLACEMENTS
from gradlab.problems.seed.gradients import ANALYTIC, METHODS
from gradlab.sweep.export import to_csv_bytes
from gradlab.sweep.grid import VARIANT_NAMES, Sweep

P = "sweep."
FORM = SweepForm.of(Sweep.default())
VIEW = SweepView()

st.title("Sweep")
st.markdown("The seed's number, **max |analytic − autograd|**, across a grid of sizes, "
            "dtypes and ε: rounding grows slowly and smoothly with the size, one line per "
            "dtype, each about its unit roundoff apart; a bug sits far above its dtype's "
            "line, and each point says its verdict. Choose the grid in the sidebar (the "
            "default sweep is preselected; the point count follows as you type) and run it.")

problems = (ui.restore_widgets(FORM, P) + ui.restore_widgets(VIEW, P)
            + ui.unknown_in_url(FORM, VIEW, extra=("run",)))
for name, options in (("dtypes", DTYPE_NAMES), ("placements", PLACEMENTS),
                      ("variants", VARIANT_NAMES), ("methods", METHODS)):
    ui.keep_options(P + name, options, problems, name, getattr(FORM, name))
with st.sidebar:  # not a form: the point count below follows every change
    st.header("Grid")
    st.text_input("dims (m = n)", key=P + "dims",
                  help="Paired sizes m = n, comma separated; a..b doubles from a to b "
                       "(2..4096 is 2, 4, …, 4096). Leave empty to use m × n below.")
    left, right = st.columns(2)
    left.text_input("m (if no dims)", key=P + "m")
    right.text_input("n (if no dims)", key=P + "n")
    st.multiselect("dtypes", DTYPE_NAMES, key=P + "dtypes")
    st.text_input("ε values", key=P + "eps", help="Comma separated, e.g. 0, 1e-6, 1e-5.")
    st.multiselect("ε placement", PLACEMENTS, key=P + "placements",
                   help="inside: u = √(mean(a²) + ε); outside: u = √mean(a²) + ε.")
    st.text_input("seeds", key=P + "seeds")
    left, right = st.columns(2)
    left.text_input("batch (tokens)", key=P + "batch")
    right.text_input("activation scales", key=P + "scales")
    st.multiselect("bug-zoo variants", VARIANT_NAMES, key=P + "variants",
                   help="none is the correct derivation; the others are common mistakes.")
    st.multiselect("methods", METHODS, key=P + "methods",
                   help="autograd always runs (the yardstick). kron forms J = kron(I_m, xᵀ): "
                        "m²n entries, skipped past the kron budget.")
    submitted = st.button("Run sweep", type="primary", width="stretch",
                          icon=":material/play_arrow:")

ui.show_url_problems(problems)
limits = ui.limits()
try:
    form = ui.widget_config(FORM, P)
    view = ui.widget_config(VIEW, P)
    sweep = form.sweep()
except GradlabError as exc:
    ui.show_error(exc)
    st.stop()

if submitted:
    st.session_state[P + "ran"] = sweep
elif P + "ran" not in st.session_state and st.query_params.get("run") == "1":
    st.session_state[P + "ran"] = sweep  # a shared URL of a sweep that was run
ran = st.session_state.get(P + "ran") == sweep

largest = sweep.largest_case()
st.caption(f"{sweep.points:,} points · largest point m = {largest.m:,}, n = {largest.n:,} "
           f"needs about {size_text(sweep.largest_bytes())} · this instance allows "
           f"{limits.max_points:,} points and {size_text(limits.case_bytes)} per point")
try:
    sweep.check(limits)
except GradlabError as exc:
    ui.sync_url(form, FORM)
    ui.show_error(exc)
    st.stop()

if not ran:
    ui.sync_url(form, FORM)
    st.info("Press **Run sweep** in the sidebar to run this grid. A grid that was run "
            "before on this server comes back at once.", icon=":material/play_arrow:")
    st.stop()

frame = ui.run_sweep_with_progress(sweep, limits)

# ------------------------------------------------------------------ chart controls
facetable = [c for c in charts.FACETS if c in frame]
analytic = [m for m in ANALYTIC if m in sweep.methods]
chart_problems: list[str] = []
ui.keep_options(P + "method", analytic or list(ANALYTIC), chart_problems, "method")
ui.keep_options(P + "x", tuple(charts.DIMENSIONS), chart_problems, "x")
ui.keep_options(P + "agg", charts.AGGREGATES, chart_problems, "agg")
ui.keep_options(P + "rows", [NO_FACET, *facetable], chart_problems, "rows")
ui.keep_options(P + "columns", [NO_FACET, *facetable], chart_problems, "columns")
for field, column in SWEEP_PICKS.items():
    ui.keep_options(P + field, ["", *labels(frame, column)], chart_problems, field)
ui.show_url_problems(chart_problems)

st.subheader("max |Δ| against dimension")
cols = st.columns(5)
cols[0].selectbox("method", analytic or list(ANALYTIC), key=P + "method",
                  help="The analytic method compared with autograd.")
cols[1].selectbox("x axis", tuple(charts.DIMENSIONS), key=P + "x")
cols[2].selectbox("over seeds", charts.AGGREGATES, key=P + "agg",
                  help="How the points of a line are aggregated: over seeds and every "
                       "parameter not drawn (never over variants).")
facet_name = {NO_FACET: "none", **charts.FACETS}
cols[3].selectbox("rows", [NO_FACET, *facetable], format_func=facet_name.get,
                  key=P + "rows", help="One row of panels per value of this parameter.")
cols[4].selectbox("columns", [NO_FACET, *facetable], format_func=facet_name.get,
                  key=P + "columns", help="One column of panels per value of this parameter.")
view = ui.widget_config(VIEW, P)
row = None if view.rows == NO_FACET else view.rows
column = None if view.columns == NO_FACET else view.columns
if row is not None and row == column:
    st.warning(f"Rows and columns both facet by {charts.FACETS[row]}: columns only.")
    row = None
# A facet of one value would only add a header: draw it as a plain chart.
row = row if row is not None and frame[row].nunique() > 1 else None
column = column if column is not None and frame[column].nunique() > 1 else None

picks = {}
pick_cols = [(f, c) for f, c in SWEEP_PICKS.items()
             if c not in (row, column) and len(labels(frame, c)) > 1]
if pick_cols:
    boxes = st.columns(len(pick_cols))
    for box, (field, column_name) in zip(boxes, pick_cols):
        title = charts.FACETS[column_name]
        every = ("all: each variant its own line" if column_name == "variant"
                 else "all: every value, aggregated as chosen above")
        box.selectbox(f"filter {title}", ["", *labels(frame, column_name)],
                      format_func=lambda v, t=title: "all" if v == ""
                      else f"{t} = {v}", key=P + field, help=every + ".")
        picks[column_name] = st.session_state[P + field]
for field, column_name in SWEEP_PICKS.items():  # a filter not shown does not stay in the URL
    if column_name not in picks:
        st.session_state[P + field] = ""
shown = keep_rows(frame, picks)
view = ui.widget_config(VIEW, P)
ui.sync_url(form, FORM, extra={**to_query(view, VIEW), "run": "1"})

if not analytic:
    st.warning("max |Δ| compares an analytic method with autograd: add structured or kron "
               "to the methods.")
else:
    n_columns = shown[column].nunique() if column else 1
    n_rows = shown[row].nunique() if row else 1
    faceted = bool(row or column)
    # A faceted chart cannot stretch: its panels are sized to fit the main column at
    # 1024 px with the sidebar open (PLAN_PX), legends below.
    width = max(110, (PLAN_PX - 70) // n_columns - 16)
    height = max(200, 380 // max(1, n_rows))
    value = f"{view.method}_max_abs_diff"
    ui.draw(charts.max_diff_chart(shown, view.method, view.x, view.agg, row=row,
                                  column=column, width=width if faceted else None,
                                  height=height))
    missed = charts.undrawable(shown, value).describe(f"max |{view.method} − autograd|")
    st.caption(f"Log-log. Colour is the dtype (the same on every page), dash the bug-zoo "
               f"variant (solid: the correct derivation; variants are never aggregated "
               f"together), and a point's shape its verdict: the worst among the points it "
               f"aggregates (hover for each verdict's count). Each point is the {view.agg} over "
               f"seeds and any parameter not drawn. Rounding climbs slowly with the size and "
               f"the dtypes sit apart by their unit roundoff (float16 and bfloat16 on top, "
               f"float64 at the bottom); a bug shows as a jump far above its dtype's line. "
               f"{missed}")

st.subheader("The table")
exact = ("eps", "scale")
# Three significant digits, as the CLI prints them (err/u reads 1.27, not 1.267e+0).
st.dataframe(frame, hide_index=True, height=360, column_config={
    c: st.column_config.NumberColumn(format="%.3g") for c in frame.columns
    if c not in exact and frame[c].dtype.kind == "f"})
complete = frame.attrs.get("complete", True)
st.download_button("Download the CSV", data=to_csv_bytes(frame), file_name=csv_name(sweep),
                   mime="text/csv", on_click="ignore", type="primary", icon=":material/download:",
                   help="Exactly the rows above, floats at round-trip precision; the Compare "
                        "page reads it back.")
st.caption(f"{len(frame):,} rows, one per point{'' if complete else ' (incomplete)'}: the case, "
           "each method's errors and verdict, and the provenance (gradlab and torch versions, "
           "device, threads, time). The columns are described in docs/csv.md.")
