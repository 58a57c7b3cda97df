"""Explorer (home): one case, bug or rounding? Opens on the seed notebook."""

from __future__ import annotations

import math

import streamlit as st

from dashboard import ui
from dashboard.explorer import (
    EPS_CHOICES,
    NO_VARIANT,
    SCALE_CHOICES,
    SMALL_ENTRIES,
    ExplorerView,
    SharedDraws,
    all_notes,
    case_summary,
    derivation,
    explorer_limits,
    floor_caption,
    metrics_html,
    metrics_table,
    page_seconds,
    shown_method,
    skipped_text,
)
from dashboard.formatting import number_text, short_number
from gradlab.charts.heatmaps import kron_structure, magnitude_heatmap, signed_heatmap
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.limits import check_seconds
from gradlab.problems.seed.gradients import ANALYTIC, VARIANTS

P = "explorer."
DEFAULT = ExplorerView()
#: Summaries are small (numbers and ≤ 32 × 32 pictures), so many can be kept.
cached_summary = ui.cached(case_summary, max_entries=256)


def choices(base, key):
    """The fixed choices, plus a value restored from the URL that is not among them."""
    current = st.session_state.get(key)
    values = set(base) | ({current} if isinstance(current, (int, float)) else set())
    return sorted(values, reverse=True)


st.title("Explorer")
st.markdown("Is this gradient mismatch **a bug or rounding?** One layer "
            "`v = g·(Wx)/u + b`, `L = Σv²`: its dL/dW by the seed's Kronecker form, by an "
            "O(mn) formula and by autograd, against an exact reference, in four dtypes.")

problems = ui.restore_widgets(DEFAULT, P) + ui.unknown_in_url(DEFAULT)
with st.sidebar:
    st.header("Case")
    preset = st.toggle("Notebook preset", key=P + "preset",
                       help="The seed notebook's own draws: torch.manual_seed(0), "
                            "m=2, n=3, one token, float32 randn of W, x, g, b.")
    if preset:
        st.caption("The preset fixes m=2, n=3, batch=1, scale=1, seed=0.")
    else:
        left, right = st.columns(2)
        # Text boxes, parsed by gradlab: a browser number box reads "1e23" as 1.
        # persist_state="page": the values survive while the preset hides them.
        for column, name in zip((left, right, left, right), ExplorerView.TEXT_FIELDS):
            column.text_input(ExplorerView.WIDGETS[name], key=P + name, persist_state="page")
        st.selectbox("activation scale (W × scale)", choices(SCALE_CHOICES, P + "scale"),
                     format_func=short_number, key=P + "scale", persist_state="page")
    st.selectbox("dtype", DTYPE_NAMES, key=P + "dtype",
                 help="The dtype drawn below; the metrics table shows all four.")
    st.selectbox("ε", choices(EPS_CHOICES, P + "eps"), format_func=short_number,
                 key=P + "eps")
    st.radio("ε placement", ("inside", "outside"), key=P + "placement", horizontal=True,
             help="inside: u = √(mean(a²) + ε) (torch.nn.RMSNorm). "
                  "outside: u = √mean(a²) + ε (the RMSNorm paper).")
    st.selectbox("Bug zoo: derivation mistake", (NO_VARIANT, *VARIANTS), key=P + "variant",
                 format_func=lambda v: "none (correct)" if v == NO_VARIANT
                 else f"{v}: {VARIANTS[v]}",
                 help="Swap the analytic methods' derivation for a common mistake, "
                      "to see what a bug looks like beside rounding.")
    st.radio("Analytic method drawn", ANALYTIC, key=P + "method", horizontal=True,
             help="kron: the seed's R and J = kron(I_m, xᵀ). structured: O(mn).")

ui.show_url_problems(problems)
view = ui.current_view(DEFAULT, P)
limits = explorer_limits(ui.limits())

with ui.guard(), st.spinner("Checking the case in four dtypes…"), ui.one_release():
    view.case().check_limits(limits)
    check_seconds(page_seconds(view, limits), limits,
                  f"m={view.case().m}, n={view.case().n}, batch={view.case().batch} in four "
                  "dtypes")
    draws = SharedDraws()  # one float64 draw for the four dtypes' checks
    checks = {d: cached_summary(view.case(d), view.variant_name, limits, _draws=draws)
              for d in DTYPE_NAMES}
check = checks[view.dtype]
case = check.case

# ------------------------------------------------------------------ the answer
method = shown_method(check, view.method)
verdict = check.verdicts[method]
title = (f"m={case.m}, n={case.n}, batch={case.batch} · {case.dtype} · "
         f"ε={short_number(case.eps)} ({case.eps_placement}) · "
         f"scale={short_number(case.scale)} · seed={case.seed}")
if case.preset:
    title += " · the seed notebook"
st.subheader(title)
if view.variant_name:
    st.info(f"Bug zoo: **{view.variant}** — {VARIANTS[view.variant]}. The analytic methods "
            f"compute this mistake; autograd and the reference stay correct. Exact effect "
            f"of the mistake: {number_text(check.bug_effect['fro'])} relative normwise, "
            f"{number_text(check.bug_effect['max'])} in the max-norm.")
alert = {"fail": st.error, "degenerate": st.warning, "too-coarse": st.warning}.get(
    verdict.status, st.success)
alert(f"**Verdict: {verdict.status}** · {method} in {case.dtype} — {verdict.message}",
      icon={"fail": ":material/bug_report:", "pass": ":material/check_circle:"}.get(
          verdict.status, ":material/warning:"))
cols = st.columns(3)
cols[0].metric(f"max |{method} − autograd|", number_text(check.max_abs_diff[method]),
               help="The seed notebook's number, for this dtype.")
cols[1].metric(f"{method} error / u", number_text(check.errors[method].err_u),
               help="Relative error of dL/dW against the reference, in units of u.")
cols[2].metric("autograd error / u", number_text(check.errors["autograd"].err_u),
               help="autograd's own rounding against the same reference: the yardstick.")
for note in all_notes(checks):
    st.warning(note, icon=":material/warning:")
skipped = skipped_text(checks, limits.kron_bytes)
if skipped:
    st.info(skipped + " The Explorer keeps kron's J small so that it answers within a "
            "second; the CLI and sweeps use the full budget.", icon=":material/info:")
if method != view.method:
    st.caption(f"{view.method} did not run here, so {method} is drawn.")

# ---------------------------------------------------------------- the tables
st.subheader("Every dtype, every method")
table = metrics_table(checks)
numbers = table.drop(columns=["verdict", "evidence"])
st.html(metrics_html(numbers))
st.caption(f"The same case in each dtype (inputs rounded from the same float64 draws). "
           f"Errors are of dL/dW against a {checks['float32'].reference_precision} reference "
           f"(longdouble for float64) from the same rounded inputs. A method passes when, "
           f"in the max-norm and normwise alike, its error ≤ 2 × autograd's + (c + b·κ)·u. "
           + floor_caption(check))
verdicts = table[table["method"] != "autograd"][["dtype", "method", "verdict", "evidence"]]
st.markdown("**The verdicts and their evidence**")
st.table(verdicts, hide_index=True)

# ------------------------------------------------------------ the gradients
st.subheader(f"dL/dW in {case.dtype}: {method} beside autograd")
picture = check.pictures[method]
pooled_note = (" A pooled map shows each block's largest |entry|; hover for the values."
               if picture.grad.pooled else "")
left, middle, right = st.columns(3)
with left:
    ui.chart(signed_heatmap(picture.grad, f"{method}", "dL/dW", bound=picture.bound),
             "The analytic gradient; blue negative, red positive, black NaN or ±inf."
             + pooled_note)
with middle:
    ui.chart(signed_heatmap(picture.autograd, "autograd", "dL/dW", bound=picture.bound),
             "Autograd on the same forward, on the same colour scale.")
with right:
    ui.chart(magnitude_heatmap(picture.delta, f"|{method} − autograd|"),
             f"|Δ| per element on a log colour scale: rounding scatters it; a bug paints a "
             f"pattern. Grey cells are exactly 0 ({picture.zeros:,} of {picture.entries:,} "
             f"entries); black ones NaN or ±inf.")

# ------------------------------------------------------------ the derivation
st.subheader("The derivation")
for what, latex in derivation(case.eps_placement):
    st.markdown(f"**{what}**")
    st.latex(latex)

if check.small is not None:
    st.subheader(f"Inputs, R and J in {case.dtype}")
    small = check.small
    for (a_key, a_title, a_caption), (b_key, b_title, b_caption) in (
            (("W", "W (m × n)", "The weights."), ("x", "x (tokens × n)", "One row per token.")),
            (("g", "g (gain)", "The gain vector."), ("b", "b (bias)", "The bias vector."))):
        left, right = st.columns(2)
        with left:
            ui.chart(signed_heatmap(small[a_key], a_title, a_key), a_caption)
        with right:
            ui.chart(signed_heatmap(small[b_key], b_title, b_key), b_caption)
    left, right = st.columns([1, 2])
    with left:
        ui.chart(signed_heatmap(small["R"], "R (m × m), token 1", "R"),
                 "R = (1/u)(I − a aᵀ/D): symmetric, the identity minus a projection.")
    with right:
        ui.chart(kron_structure(small["J"]),
                 "J = kron(I_m, xᵀ): row i holds xᵀ in block i and zeros elsewhere "
                 "(the Kronecker delta), so row · J lays row_i · xᵀ out as row i of dL/dW.")
else:
    st.caption(f"The inputs, R and J are drawn for m·n ≤ {SMALL_ENTRIES} "
               f"(here m·n = {case.m * case.n}).")

if not math.isfinite(check.ref_max_abs):
    st.caption("The exact gradient is not finite here (u = 0).")
