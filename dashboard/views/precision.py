"""Precision: how big rounding is, per dtype and method, against Higham's bounds."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.formatting import short_number
from dashboard.precision import EPS_CHOICES, PANEL_PX, UNITS, PrecisionView, error_notes
from gradlab.charts import sweep as charts
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.problems.seed.case import PLACEMENTS
from gradlab.problems.seed.gradients import METHODS

P = "precision."
DEFAULT = PrecisionView()

st.title("Precision")
st.markdown("How large is rounding? Each method's error in dL/dW against a higher-precision "
            "reference computed from the **same rounded inputs** (float64; numpy longdouble "
            "for float64 itself), across sizes, for every dtype, beside its unit roundoff "
            "**u** and the textbook bounds for one length-n sum: **√n·u** (errors that "
            "cancel at random) and **n·u** (errors that all add up).")

problems = ui.restore_widgets(DEFAULT, P) + ui.unknown_in_url(DEFAULT)
ui.keep_options(P + "dtypes", DTYPE_NAMES, problems, "dtypes", DEFAULT.dtypes)
ui.keep_options(P + "methods", METHODS, problems, "methods", DEFAULT.methods)
ui.keep_options(P + "placement", PLACEMENTS, problems, "placement")
ui.keep_options(P + "agg", charts.AGGREGATES, problems, "agg")
ui.keep_options(P + "units", tuple(UNITS), problems, "units")
current = st.session_state.get(P + "eps")
eps_choices = sorted(set(EPS_CHOICES) | ({current} if isinstance(current, float) else set()))
with st.sidebar:
    st.header("Sizes")
    st.text_input("dims (m = n)", key=P + "dims",
                  help="Comma separated; a..b doubles from a to b (2..512 is 2, 4, …, 512).")
    st.text_input("seeds", key=P + "seeds")
    st.selectbox("ε", eps_choices, key=P + "eps",
                 format_func=short_number)
    st.radio("ε placement", PLACEMENTS, key=P + "placement", horizontal=True)
    st.multiselect("dtypes", DTYPE_NAMES, key=P + "dtypes")
    st.multiselect("methods", METHODS, key=P + "methods",
                   help="kron forms J = kron(I_m, xᵀ) and is skipped past the kron budget.")
    st.header("Drawing")
    st.radio("errors", tuple(UNITS), format_func=UNITS.get, key=P + "units", horizontal=True)
    st.selectbox("over seeds", charts.AGGREGATES, key=P + "agg")

ui.show_url_problems(problems)
limits = ui.limits()
view = ui.current_view(DEFAULT, P)
with ui.guard():
    sweep = view.sweep()
    sweep.check(limits)
    parts = view.parts()


def progress_caption(frame: pd.DataFrame, pending: tuple[int, ...]) -> None:
    """Which sizes are drawn so far and which still run."""
    st.caption(f"Drawn so far: m = n up to {frame['n'].max():,}. Still running: "
               f"{', '.join(f'{d:,}' for d in pending)} (the chart grows as each "
               "size finishes).")


def error_section(frame: pd.DataFrame) -> None:
    """Each method's error per dtype, one panel per dtype, with what it cannot draw."""
    notes = error_notes(frame, view.methods, limits.kron_bytes)
    st.subheader("Each method's error, per dtype")
    ui.chart(charts.error_chart(frame, view.methods, view.agg, view.units,
                                width=PANEL_PX, height=PANEL_PX),
             "One panel per dtype, one line per method (its marker), in the dtype's colour; "
             "hover for the values. The grey lines are context, not bounds on this "
             "gradient: u is one rounding in the dtype; √n·u and n·u bound the rounding of "
             "one length-n dot product (such as a = W x) if its errors cancel at random or "
             "all add up. dL/dW is more than one dot product: the inputs and each stored "
             "intermediate (a, u, v, d, row) are rounded, and cancellation (κ, large at "
             "small m) magnifies those roundings, so a correct method's error is a few u "
             "at every n and can sit above n·u where n is small (on the default view, every "
             "dtype does at n = 2). "
             "Bug or rounding is decided by the verdict's rule (see the Explorer): within "
             "2 × autograd's own error plus a floor c·s·u is rounding; a bug sits far above "
             f"autograd in its panel. Each point is the {view.agg} over "
             f"{len(sweep.seeds)} seed(s). " + " ".join(notes))


def storage_note() -> None:
    """Why the half-precision errors measure storage more than arithmetic."""
    st.info("**bfloat16 and float16 measure storage more than arithmetic here.** On the "
            "CPU, torch accumulates half-precision reductions (matrix products, sums, "
            "means) in float32 and rounds only the result, so these two dtypes' errors "
            "come mostly from rounding the inputs and each stored intermediate, not from "
            "long sums in 8 or 11 bits. On a GPU, or with other kernels, the arithmetic "
            "can round more.", icon=":material/info:")


def float64_section(frame: pd.DataFrame) -> None:
    """float64's own error against the longdouble reference (if float64 is chosen)."""
    st.subheader("float64 against extended precision")
    if "float64" in view.dtypes:
        ui.chart(charts.float64_chart(frame, view.methods, view.agg),
                 "float64's own rounding, measured against a numpy longdouble (x87 80-bit, "
                 "u = 2⁻⁶⁴) reference from the same float64 inputs. One line per method "
                 "(its marker) in float64's colour; the grey context lines are u, √n·u and "
                 "n·u for u = 2⁻⁵³ ≈ 1.1e-16. A float64 reference would read this error as "
                 "0; against longdouble a correct derivation shows a few units of u (hover "
                 "for the value in units of u). "
                 + charts.undrawable(frame[frame["dtype"] == "float64"],
                                     "autograd_rel_err").describe("autograd's error"))
    else:
        st.caption("Add float64 to the dtypes to see its error against extended precision.")


def draw(frame: pd.DataFrame) -> None:
    """Every chart of the page from the rows so far. Each draw writes the same elements
    in the same order: a redraw replaces them one for one, and none of an earlier draw's
    is left behind in the browser."""
    error_section(frame)
    storage_note()
    float64_section(frame)


# The small sizes first, drawn at once; each larger size then runs and the page redraws.
# The progress line has a placeholder of its own, outside the redrawn charts.
progress, page = st.empty(), st.empty()
frames = []
for i, part in enumerate(parts):
    frames.append(ui.run_sweep_with_progress(
        part, limits, f"Precision sweep, m = n = {', '.join(map(str, part.dims))}"))
    frame = pd.concat(frames, ignore_index=True)
    pending = tuple(d for later in parts[i + 1:] for d in later.dims)
    if pending:
        with progress.container():
            progress_caption(frame, pending)
    else:
        progress.empty()
    with page.container():
        draw(frame)
