"""Epsilon: what ε does, by value × placement × activation scale, and the
finite-difference step study."""

from __future__ import annotations

import streamlit as st

from dashboard import ui
from dashboard.epsilon import FD_EPS_CHOICES, MAX_DIM, EpsilonView
from dashboard.formatting import short_number
from dashboard.tables import html_table
from gradlab.charts.epsilon import error_chart, magnitude_chart
from gradlab.charts.finite_diff import v_curve_chart
from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.problems.seed.gradients import METHODS
from gradlab.studies.epsilon import EPS_VALUES, FLAGS, SCALES, eps_study, summary
from gradlab.studies.finite_diff import optimum, step_study, theory_step

P = "epsilon."
DEFAULT = EpsilonView()

cached_eps_study = ui.cached(eps_study)
cached_step_study = ui.cached(step_study)

st.title("Epsilon")
st.markdown(
    "What ε does to the gradient, by **value × placement × activation scale**, in each "
    "dtype; where ε silently rounds to 0, where u underflows and where the backward "
    "overflows; and why a finite-difference checker cannot settle the question in float32.")

problems = ui.restore_widgets(DEFAULT, P) + ui.unknown_in_url(DEFAULT)
with st.sidebar:
    st.header("ε study")
    # Text boxes, parsed by gradlab: a browser number box reads "1e23" as 1.
    st.text_input(EpsilonView.WIDGETS["m"], key=P + "m",
                  help=f"The layer of every point (at most {MAX_DIM}).")
    st.text_input(EpsilonView.WIDGETS["seed"], key=P + "seed")
    st.multiselect("dtypes", DTYPE_NAMES, key=P + "dtypes")
    st.multiselect("methods", METHODS, key=P + "methods")
    st.header("Finite differences")
    st.text_input(EpsilonView.WIDGETS["fd_m"], key=P + "fd_m",
                  help="The layer of the step study (m·n ≤ 1024).")
    current = st.session_state.get(P + "fd_eps")
    fd_choices = sorted(set(FD_EPS_CHOICES) | ({current} if isinstance(current, float)
                                                else set()))
    st.selectbox("FD ε (inside)", fd_choices, key=P + "fd_eps",
                 format_func=short_number)

ui.show_url_problems(problems)
view = ui.current_view(DEFAULT, P)
limits = ui.limits()

with ui.guard(), st.spinner("Running the ε study…"):
    study = view.study()
    frame = cached_eps_study(study, limits)

st.subheader("The gradient's magnitude")
ui.chart(magnitude_chart(frame),
         f"max |dL/dW| of the exact gradient (from each dtype's rounded inputs) against ε, "
         f"m = n = {view.m}. At scale 1 ε barely matters; at 1e-4 the activations are "
         f"tiny, u ≈ √ε inside (or ε outside) takes over and the gradient shrinks as ε "
         f"grows. Within each ε the dtypes sit side by side (float64 first), so lines that "
         f"coincide all show. Flags are not values: they sit in a strip of their own above "
         f"each panel, one row per kind ("
         + ", ".join(f"{shape.replace('-', ' ')} = {flag}" for flag, shape in FLAGS.items())
         + ").")

st.subheader("Each method's error")
ui.chart(error_chart(frame, view.methods),
         "Relative error of dL/dW (÷ max |exact|) on a log axis, one colour per dtype, one "
         "dash per method, the dtypes side by side within each ε. A NaN or inf gradient "
         "cannot sit on a log axis: its point is missing from the line and a flag marks it "
         "in the strip above the panel. float16 at scale "
         "1e-4: ε ≤ 1e-8 rounds to 0 and u underflows, so every method gives NaN; at "
         "ε = 1e-6 autograd's backward overflows to inf. bfloat16 has float32's range and "
         "none of these problems.")

flags = summary(frame)
st.subheader(f"Flagged points ({len(flags)})")
if flags.empty:
    st.success("Nothing rounds, underflows or overflows in this grid.")
else:
    st.html(html_table(flags, numbers=("scale",), name="flags", max_height=480))
    st.caption("Every flag drawn above, one row each: the points stay in the data, "
               "marked, not dropped.")

with st.expander(f"All {len(frame)} points"):
    st.dataframe(frame, hide_index=True, width="stretch")
    st.caption(f"ε ∈ {', '.join(f'{e:g}' for e in EPS_VALUES)} × placement × scale ∈ "
               f"{', '.join(f'{s:g}' for s in SCALES)} × dtype; the columns are "
               "Check.to_row's, plus the flags.")

st.subheader("The finite-difference step study")
with ui.guard(), st.spinner("Running finite differences…"):
    steps = cached_step_study(view.step_study())
ui.chart(v_curve_chart(steps),
         f"A central difference (L(W + h) − L(W − h))/2h per entry, every forward pass in "
         f"the dtype, m = n = {view.fd_m}. Right of the dip, truncation error grows like h²; "
         f"left of it, rounding of L grows like u/h; the dashed line is the textbook optimum "
         f"ε_mach^(1/3), the diamond the measured one. In float32 the best step "
         f"(ε_mach = {2 * dtype_info('float32').u:.2g}, so h* ≈ "
         f"{theory_step('float32'):.1e}) still leaves a relative error "
         f"near 1e-4 (≈ 1000 u), and for h below W's spacing W + h == W, so the estimate is "
         f"exactly 0 (open circles). A finite-difference checker in float32 therefore "
         f"cannot see a mistake smaller than about 1e-4 relative, while the analytic "
         f"methods above are good to a few u: check gradients in float64, or against an "
         f"exact reference as gradlab does.")
best = optimum(steps)
st.dataframe(best.rename(columns={
    "h_best": "measured optimum h", "rel_err_best": "its relative error",
    "abs_err_best": "its absolute error", "h_theory": "ε_mach^(1/3)"}),
    hide_index=True, width="stretch",
    column_config={c: st.column_config.NumberColumn(format="%.2e") for c in (
        "measured optimum h", "its relative error", "its absolute error", "ε_mach^(1/3)")})
