"""Explorer (home): one case, bug or rounding? Opens on the seed notebook."""

from __future__ import annotations

import math

import streamlit as st

from dashboard import ui
from dashboard.explorer import (
    NO_VARIANT,
    SMALL_ENTRIES,
    ExplorerView,
    abs_delta,
    all_notes,
    all_skipped,
    derivation,
    explorer_limits,
    first_token_J,
    first_token_R,
    metrics_table,
    shown_method,
)
from gradlab.charts.heatmaps import abs_bound, kron_structure, magnitude_heatmap, signed_heatmap
from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.problems.seed.gradients import ANALYTIC, VARIANTS

P = "explorer."
DEFAULT = ExplorerView()
EPS_CHOICES = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
SCALE_CHOICES = (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def choices(base, key):
    """The fixed choices, plus a value restored from the URL that is not among them."""
    current = st.session_state.get(key)
    values = set(base) | ({current} if isinstance(current, (int, float)) else set())
    return sorted(values, reverse=True)


def sci(x: float) -> str:
    return "0" if x == 0 else f"{x:.0e}"


st.title("Explorer")
st.markdown("Is this gradient mismatch **a bug or rounding?** One layer "
            "`v = g·(Wx)/u + b`, `L = Σv²`: its dL/dW by the seed's Kronecker form, by an "
            "O(mn) formula and by autograd, against an exact reference, in four dtypes.")

problems = ui.restore_widgets(DEFAULT, P)
with st.sidebar:
    st.header("Case")
    preset = st.toggle("Notebook preset", key=P + "preset",
                       help="The seed notebook's own draws: torch.manual_seed(0), "
                            "m=2, n=3, one token, float32 randn of W, x, g, b.")
    if preset:
        st.caption("The preset fixes m=2, n=3, batch=1, scale=1, seed=0.")
    else:
        left, right = st.columns(2)
        # persist_state="page": the values survive while the preset hides them
        left.number_input("m (outputs)", min_value=1, step=1, key=P + "m",
                          persist_state="page")
        right.number_input("n (inputs)", min_value=1, step=1, key=P + "n",
                           persist_state="page")
        left.number_input("batch (tokens)", min_value=1, step=1, key=P + "batch",
                          persist_state="page")
        right.number_input("seed", min_value=0, step=1, key=P + "seed", persist_state="page")
        st.selectbox("activation scale (W × scale)", choices(SCALE_CHOICES, P + "scale"),
                     format_func=sci, key=P + "scale", persist_state="page")
    st.selectbox("dtype", DTYPE_NAMES, key=P + "dtype",
                 help="The dtype drawn below; the metrics table shows all four.")
    st.selectbox("ε", choices(EPS_CHOICES, P + "eps"), format_func=sci, key=P + "eps")
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

with ui.guard(), st.spinner("Checking the case in four dtypes…"):
    view.case().check_limits(limits)
    checks = {d: ui.cached_check(view.case(d), view.variant_name, limits) for d in DTYPE_NAMES}
check = checks[view.dtype]
case = check.case

# ------------------------------------------------------------------ the answer
method = shown_method(check, view.method)
verdict = check.verdicts[method]
title = (f"m={case.m}, n={case.n}, batch={case.batch} · {case.dtype} · ε={case.eps:g} "
         f"({case.eps_placement}) · scale={case.scale:g} · seed={case.seed}")
if case.preset:
    title += " · the seed notebook"
st.subheader(title)
if view.variant_name:
    st.info(f"Bug zoo: **{view.variant}** — {VARIANTS[view.variant]}. The analytic methods "
            f"compute this mistake; autograd and the reference stay correct. Exact effect "
            f"of the mistake: {check.bug_effect['fro']:.3g} relative normwise, "
            f"{check.bug_effect['max']:.3g} in the max-norm.")
cols = st.columns(4)
cols[0].metric(f"max |{method} − autograd|", f"{check.max_abs_diff[method]:.3g}",
               help="The seed notebook's number, for this dtype.")
cols[1].metric(f"{method} error / u", f"{check.errors[method]['W'].err_u:.3g}",
               help="Relative error of dL/dW against the reference, in units of u.")
cols[2].metric("autograd error / u", f"{check.errors['autograd']['W'].err_u:.3g}")
cols[3].metric("verdict", verdict.status)
(st.error if verdict.status == "fail" else
 st.warning if verdict.status in ("degenerate", "too-coarse") else st.success)(
    f"**{method} in {case.dtype}** — {verdict.message}")
for note in all_notes(checks):
    st.warning(note)
skipped = all_skipped(checks)
if skipped:
    st.info("Not run: " + "; ".join(skipped) + ". (The Explorer keeps kron's J small so "
            "that it answers within a second; the CLI and sweeps use the full budget.)")
if method != view.method:
    st.caption(f"{view.method} did not run here, so {method} is drawn.")

# ---------------------------------------------------------------- the table
st.subheader("Every dtype, every method")
table = metrics_table(checks)
fmt = st.column_config.NumberColumn
st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,
             column_config={
    "max |Δ| vs autograd": fmt(format="%.3e", help="max |method − autograd| over dL/dW"),
    "abs err": fmt(format="%.3e", help="max |method − reference|"),
    "rel err": fmt(format="%.3e", help="abs err ÷ max |reference|"),
    "err / u": fmt(format="%.3e", help="rel err in units of the dtype's u"),
    "evidence": st.column_config.TextColumn(width="large"),
})
st.caption(f"The same case in each dtype (inputs rounded from the same float64 draws). "
           f"Errors are of dL/dW against a {checks['float32'].reference.precision} reference "
           f"(longdouble for float64) from the same rounded inputs. A method passes when, "
           f"in the max-norm and normwise alike, its error ≤ 2 × autograd's + c·κ·u, with "
           f"c = {DTYPES[case.dtype].floor('max'):g} (max-norm) and "
           f"{DTYPES[case.dtype].floor('fro'):g} (normwise) and the cancellation condition "
           f"κ = {check.kappa:.3g} (normwise {check.kappa_fro:.3g}) here.")

# ------------------------------------------------------------ the gradients
st.subheader(f"dL/dW in {case.dtype}: {method} beside autograd")
analytic = check.runs[method].grads["W"]
auto = check.runs["autograd"].grads["W"]
bound = abs_bound(analytic, auto)
left, middle, right = st.columns(3)
with left:
    ui.chart(signed_heatmap(analytic, f"{method}", "dL/dW", bound=bound),
             "The analytic gradient; blue negative, red positive.")
with middle:
    ui.chart(signed_heatmap(auto, "autograd", "dL/dW", bound=bound),
             "Autograd on the same forward, on the same colour scale.")
with right:
    delta = abs_delta(check, method)
    zeros = int((delta == 0).sum())
    ui.chart(magnitude_heatmap(delta, f"|{method} − autograd|"),
             f"|Δ| per element on a log colour scale: rounding scatters it; a bug paints a "
             f"pattern. Grey cells are exactly 0 ({zeros} of {delta.numel()}).")

# ------------------------------------------------------------ the derivation
st.subheader("The derivation")
for what, latex in derivation(case.eps_placement):
    st.markdown(f"**{what}**")
    st.latex(latex)

if case.m * case.n <= SMALL_ENTRIES:
    st.subheader(f"Inputs, R and J in {case.dtype}")
    inp = check.inputs
    a, b, c, d = st.columns(4)
    with a:
        ui.chart(signed_heatmap(inp.W, "W (m × n)", "W"), "The weights.")
    with b:
        ui.chart(signed_heatmap(inp.X, "x (tokens × n)", "x"), "One row per token.")
    with c:
        ui.chart(signed_heatmap(inp.g, "g (gain)", "g"), "The gain vector.")
    with d:
        ui.chart(signed_heatmap(inp.b, "b (bias)", "b"), "The bias vector.")
    left, right = st.columns([1, 2])
    with left:
        ui.chart(signed_heatmap(first_token_R(check), "R (m × m), first token", "R"),
                 "R = (1/u)(I − a aᵀ/D): symmetric, the identity minus a projection.")
    with right:
        ui.chart(kron_structure(first_token_J(check)),
                 "J = kron(I_m, xᵀ): row i holds xᵀ in block i and zeros elsewhere "
                 "(the Kronecker delta), so row · J lays row_i · xᵀ out as row i of dL/dW.")
else:
    st.caption(f"The inputs, R and J are drawn for m·n ≤ {SMALL_ENTRIES} "
               f"(here m·n = {case.m * case.n}).")

if not math.isfinite(check.ref_max_abs):
    st.caption("The exact gradient is not finite here (u = 0).")
