"""Compare: overlay exported sweep CSVs (another machine, another torch) on one chart."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.forms import COMPARE_PICKS, CompareView, keep_rows, labels
from gradlab.charts import sweep as charts
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.limits import MiB
from gradlab.problems.seed.gradients import ANALYTIC, METHODS

P = "compare."
DEFAULT = CompareView()
PROVENANCE = ("torch_version", "gradlab_version", "device", "threads", "python_version",
              "timestamp")


def summary(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One line per file: its size, its grid, and where it was computed."""
    lines = []
    for name, frame in frames.items():
        line = {"file": name, "rows": len(frame),
                "dtypes": ", ".join(d for d in DTYPE_NAMES if d in set(frame["dtype"])),
                "m = n" if (frame["m"] == frame["n"]).all() else "m × n":
                    f"{frame['m'].min()}…{frame['m'].max()}",
                }
        for column in PROVENANCE:
            if column in frame:
                line[column] = ", ".join(labels(frame, column))
        lines.append(line)
    return pd.DataFrame(lines)


st.title("Compare")
st.markdown("Overlay sweeps exported as CSV (the Sweep page's download, or "
            "`python -m gradlab sweep --csv`) from another machine, another torch version or "
            "another day. Colour is the dtype, as everywhere; **dash and marker shape are the "
            "file**.")

limits = ui.limits()
cap_mib = max(1, math.ceil(limits.upload_bytes / MiB))
files = st.file_uploader("Sweep CSV files", type=["csv"], accept_multiple_files=True,
                         key=P + "files", max_upload_size=cap_mib,
                         help=f"Up to {limits.upload_bytes / MiB:,.0f} MiB per file. A file "
                              "that is not a gradlab sweep is refused with the reason; the "
                              "others still show.")
frames, problems = ui.read_uploads(files, limits)
for problem in problems:
    st.error(problem, icon="🚫")
if not frames:
    st.info("Upload one or more sweep CSVs to overlay them. The chart settings live in the "
            "URL; the files do not (they stay in this browser session).")
    st.stop()

url_problems = ui.restore_widgets(DEFAULT, P)
every = pd.concat(frames.values(), ignore_index=True)
ui.keep_options(P + "method", list(ANALYTIC), url_problems, "method")
ui.keep_options(P + "error_method", list(METHODS), url_problems, "error_method")
ui.keep_options(P + "x", list(charts.DIMENSIONS), url_problems, "x")
ui.keep_options(P + "agg", list(charts.AGGREGATES), url_problems, "agg")
for field, column in COMPARE_PICKS.items():
    ui.keep_options(P + field, ["", *labels(every, column)], url_problems, field)
ui.show_url_problems(url_problems)

st.dataframe(summary(frames), hide_index=True)

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
shown = {name: keep_rows(frame, picks) for name, frame in frames.items()}


def undrawn(value: str) -> str:
    """What each file cannot draw of ``value``, in a sentence per file."""
    return " ".join(charts.undrawable(f, value).describe(n) for n, f in shown.items()).strip()


st.subheader("max |Δ| against dimension")
value = f"{view.method}_max_abs_diff"
ui.chart(charts.overlay_chart(shown, view.method, "max_abs_diff", view.x, view.agg),
         f"max |{view.method} − autograd| per dtype and file, log-log. Lines of one colour "
         "that coincide mean the files agree; a dtype that moves between files points at a "
         "different torch kernel, thread count or device. " + undrawn(value))

st.subheader("Error against the reference")
st.selectbox("method", METHODS, key=P + "error_method")
value = f"{view.error_method}_rel_err"
ui.chart(charts.overlay_chart(shown, view.error_method, "rel_err", view.x, view.agg),
         f"{view.error_method}'s relative error against the higher-precision reference, per "
         "dtype and file. Unlike max |Δ| this is each method's own rounding, so it "
         "compares machines directly. " + undrawn(value))
