"""Compare: overlay exported sweep CSVs (another machine, another torch) on one chart."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.compare import (
    COMPARE_PICKS,
    CompareView,
    grid_differences,
    match_points,
    summary,
)
from dashboard.formatting import keep_rows, labels
from gradlab.charts import sweep as charts
from gradlab.core.limits import MiB
from gradlab.problems.seed.gradients import ANALYTIC, METHODS
from gradlab.sweep.schema import CASE_COLUMNS

P = "compare."
DEFAULT = CompareView()


st.title("Compare")
st.markdown("Overlay sweeps exported as CSV (the Sweep page's download, or "
            "`python -m gradlab sweep … --out FILE.csv`) from another machine, another torch "
            "version or another day. Colour is the dtype, as everywhere; **dash and marker "
            "shape are the file**. The files are compared point for point: only the points "
            "every file holds (same size, dtype, ε, placement, scale, seed and variant) are "
            "drawn.")

ui.show_url_problems(ui.unknown_in_url(DEFAULT))  # before the uploads: said even without files
limits = ui.limits()
cap_mib = max(1, math.ceil(limits.upload_bytes / MiB))
files = st.file_uploader("Sweep CSV files", type=["csv"], accept_multiple_files=True,
                         key=P + "files", max_upload_size=cap_mib,
                         help=f"Up to {limits.upload_bytes / MiB:,.0f} MiB per file. A file "
                              "that is not a gradlab sweep is refused with the reason; the "
                              "others still show.")
frames, problems = ui.read_uploads(files, limits)
for problem in problems:
    st.error(problem, icon=":material/block:")
if not frames:
    st.info("Upload one or more sweep CSVs to overlay them. The chart settings live in the "
            "URL; the files do not (they stay in this browser session).",
            icon=":material/upload_file:")
    st.stop()

st.dataframe(summary(frames), hide_index=True)
matched = match_points(frames)
keys = ", ".join(CASE_COLUMNS)
differences = grid_differences(frames)
if matched.points == 0:
    st.warning("These files share no point, so there is nothing to compare like with like "
               f"(a point is one value of each of {keys}). Where the grids differ: "
               + "; ".join(differences) + ".", icon=":material/compare_arrows:")
    st.stop()
if not matched.complete:
    left = ", ".join(f"{name} {count:,}" for name, count in matched.left_out.items())
    repeats = "; ".join(f"{name}: {count:,} repeated point(s) (the first row kept)"
                        for name, count in matched.repeated.items() if count)
    st.info(f"Compared on the {matched.points:,} points present in every file (matched on "
            f"{keys}). Rows left out, because another file lacks their point: {left}."
            + (f" {repeats}." if repeats else "")
            + (" Where the grids differ: " + "; ".join(differences) + "."
               if differences else ""), icon=":material/filter_alt:")

url_problems = ui.restore_widgets(DEFAULT, P)
every = pd.concat(matched.frames.values(), ignore_index=True)
ui.keep_options(P + "method", list(ANALYTIC), url_problems, "method")
ui.keep_options(P + "error_method", list(METHODS), url_problems, "error_method")
ui.keep_options(P + "x", list(charts.DIMENSIONS), url_problems, "x")
ui.keep_options(P + "agg", list(charts.AGGREGATES), url_problems, "agg")
for field, column in COMPARE_PICKS.items():
    ui.keep_options(P + field, ["", *labels(every, column)], url_problems, field)
ui.show_url_problems(url_problems)

cols = st.columns(3 + len(COMPARE_PICKS))
cols[0].selectbox("x axis", tuple(charts.DIMENSIONS), key=P + "x")
cols[1].selectbox("over seeds (and the rest)", charts.AGGREGATES, key=P + "agg")
cols[2].selectbox("max |Δ| of", ANALYTIC, key=P + "method")
for box, (field, column) in zip(cols[3:], COMPARE_PICKS.items()):
    title = charts.FACETS[column]
    box.selectbox(f"filter {title}", ["", *labels(every, column)],
                  format_func=lambda v, t=title: "all" if v == ""
                  else f"{t} = {v}", key=P + field)
view = ui.current_view(DEFAULT, P)

picks = {column: getattr(view, field) for field, column in COMPARE_PICKS.items()}
shown = {name: keep_rows(frame, picks) for name, frame in matched.frames.items()}


def undrawn(value: str) -> str:
    """What each file cannot draw of ``value``, in a sentence per file."""
    return " ".join(charts.undrawable(f, value).describe(n) for n, f in shown.items()).strip()


# Several variants are drawn a panel each (never aggregated together), sized to fit the
# main column at 1024 px with the sidebar open.
n_variants = pd.concat(shown.values())["variant"].nunique() if shown else 1
width = max(110, (540 - 70) // max(1, n_variants) - 16) if n_variants > 1 else None
variant_note = (" Each bug-zoo variant has a panel of its own." if n_variants > 1 else "")

st.subheader("max |Δ| against dimension")
value = f"{view.method}_max_abs_diff"
ui.chart(charts.overlay_chart(shown, view.method, "max_abs_diff", view.x, view.agg,
                              width=width),
         f"max |{view.method} − autograd| per dtype and file, log-log, at the points every "
         "file holds. Lines of one colour that coincide mean the files agree. The inputs "
         "are the same (same sizes, seeds, ε, …), so a dtype that moves between files "
         "moved with where it was computed: compare the torch and gradlab versions, device "
         "and threads in the table above (a different kernel or summation order)."
         + variant_note + " " + undrawn(value))

st.subheader("Error against the reference")
st.selectbox("method", METHODS, key=P + "error_method")
value = f"{view.error_method}_rel_err"
ui.chart(charts.overlay_chart(shown, view.error_method, "rel_err", view.x, view.agg,
                              width=width),
         f"{view.error_method}'s relative error against the higher-precision reference, per "
         "dtype and file. Unlike max |Δ| this is each method's own rounding, so it "
         "compares machines directly." + variant_note + " " + undrawn(value))
