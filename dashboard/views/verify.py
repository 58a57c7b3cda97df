"""Verify: a built-in problem's candidate (or, locally, your own module:function, or an op
of the corpus) against its plain-ops reference, per dtype: the verdicts, the errors, |Δ|
maps and a size sweep."""

from __future__ import annotations

import streamlit as st

from dashboard import ui
from dashboard.verify import (
    CHART_PANEL_PX,
    IMPORT_OFF,
    SOURCE_LABELS,
    CorpusOp,
    VerifyView,
    candidate_label,
    corpus_op,
    corpus_ops,
    module_deltas,
    module_report,
    not_passing,
    op_deltas,
    op_report,
    pick_dtype,
    pick_input,
    problem_deltas,
    problem_report,
    verdict_table_html,
    worst_entries_table,
)
from gradlab.charts.verify import (
    delta_heatmap,
    size_chart,
    size_undrawable,
    verify_chart,
    verify_undrawable,
)
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.limits import ALLOW_IMPORT, allow_import, check_seconds
from gradlab.problems.cost import verify_seconds
from gradlab.problems.library import PROBLEMS
from gradlab.problems.sizes import sizes_frame

P = "verify."
DEFAULT = VerifyView()
W = VerifyView.WIDGETS  # each text box's label

cached_report = ui.cached(problem_report)
#: Pooled maps are small (≤ 32 × 32 cells a gradient), so many can be kept.
cached_deltas = ui.cached(problem_deltas, max_entries=256)
cached_ops = ui.cached(corpus_ops)
cached_op = ui.cached(corpus_op)
cached_op_report = ui.cached(op_report)
cached_op_deltas = ui.cached(op_deltas, max_entries=256)


def problem_changed() -> None:
    """A new problem: its own default size and sweep, a candidate it has."""
    for field in ("size", "sweep", "show_input"):
        st.session_state[P + field] = ""
    names = PROBLEMS[st.session_state[P + "problem"]].candidate_names
    if st.session_state.get(P + "candidate") not in names:
        st.session_state[P + "candidate"] = "correct"


def op_changed() -> None:
    """A new corpus op: its first entry, its first 2-D gradient."""
    st.session_state[P + "sample"] = None
    st.session_state[P + "show_input"] = ""


def op_widget(problems: list[str]) -> None:
    """The op source's op: every op of the corpus (an unknown one from the URL is named
    in ``problems`` and dropped)."""
    with ui.guard():
        names = cached_ops()
    if st.session_state[P + "op"] not in ("", *names):
        problems.append(f"op: {st.session_state[P + 'op']!r} is not an op of the corpus "
                        "(`python -m gradlab ops --list` lists them)")
        st.session_state[P + "op"] = ""
    st.selectbox(W["op"], ("", *names), key=P + "op", on_change=op_changed,
                 format_func=lambda name: name or "pick an op",
                 help="An op of the corpus (`python -m gradlab ops`: torch's OpInfo ops and "
                      "the hand-written kernels), built and verified here. The Ops page "
                      "links each op here.")


def sample_widget(op: CorpusOp, box) -> VerifyView:
    """The op's entry (``box``: its place in the sidebar), for an op with several; then
    the view as the widgets now hold it."""
    problems: list[str] = []
    options = (None, *op.samples) if op.samples else (None,)
    ui.keep_options(P + "sample", options, problems, "sample")
    ui.show_url_problems(problems)
    if op.samples:
        first = op.entries[0].name
        box.selectbox(W["sample"], options, key=P + "sample",
                      format_func=lambda s: f"the first ({first})" if s is None else f"#{s}",
                      help="The op's entries: its largest OpInfo samples (the number is "
                           "the sample's index).")
    return ui.current_view(DEFAULT, P)


def op_header(op: CorpusOp, report, view: VerifyView) -> None:
    """The op's entry: what it is, its inputs and note, and the dtypes it skips."""
    entry = op.entry(view.sample)
    st.subheader(f"{entry.name} · the op against its {entry.reference_kind} reference · "
                 f"seed {view.seed}")
    left_out = [d for d in view.dtypes if d not in entry.dtypes]
    st.caption(f"Inputs: {', '.join(f'{n} {t}' for n, t in report.inputs)}. "
               + (f"{entry.note}. " if entry.note else "")
               + (f"Not run in {', '.join(left_out)}: not among the op's dtypes "
                  f"({', '.join(entry.dtypes)}). " if left_out else "")
               + (f"Skipped: {'; '.join(op.skipped)}." if op.skipped else ""))


st.title("Verify")
st.markdown("Is a backward right **in every dtype**? A candidate's gradients against the "
            "same mathematics in plain torch ops differentiated by *autograd* (the "
            "yardstick), both against a float64 truth on the same rounded inputs, judged "
            "by the one verdict rule in the "
            "max-norm, normwise and along the truth (docs/verify.md).")

problems = ui.restore_widgets(DEFAULT, P) + ui.unknown_in_url(DEFAULT)
if st.session_state[P + "show_dtype"] not in st.session_state[P + "dtypes"]:
    st.session_state[P + "show_dtype"] = ""  # its dtype was dropped from the list
allowed = False
with ui.guard(stop=False):
    allowed = allow_import()
if not allowed and st.session_state.get(P + "source") == "module":
    problems.append(f"source: module:function is off on this instance ({ALLOW_IMPORT} is "
                    "not 1); the built-in problem is shown")
    st.session_state[P + "source"] = "problem"

with st.sidebar:
    st.header("Candidate")
    if allowed or st.session_state[P + "source"] == "op":
        st.radio("source", tuple(s for s in SOURCE_LABELS if allowed or s != "module"),
                 key=P + "source", horizontal=True, format_func=SOURCE_LABELS.get,
                 help=f"{ALLOW_IMPORT}=1 is set: this instance imports your module."
                 if allowed else "A corpus op opens here from the Ops page.")
    source = st.session_state[P + "source"]
    if source == "problem":
        st.selectbox("problem", tuple(PROBLEMS), key=P + "problem", on_change=problem_changed,
                     format_func=lambda name: f"{name}: {PROBLEMS[name].title}")
        prob = PROBLEMS[st.session_state[P + "problem"]]
        st.selectbox("candidate", prob.candidate_names, key=P + "candidate",
                     format_func=lambda name: candidate_label(name, prob.candidate(name).kind),
                     help="correct: the hand-written backward; mistake: a planted mistake; "
                          "kernel: torch's own.")
        left, right = st.columns(2)
        # Text boxes, parsed by gradlab: a browser number box reads "1e23" as 1.
        left.text_input(f"{W['size']} ({prob.size_name})", key=P + "size",
                        placeholder=str(prob.default_size),
                        help=f"Blank: {prob.default_size}. The problem offers "
                             f"{', '.join(map(str, prob.sizes))} (at most {max(prob.sizes)}).")
        right.text_input(W["seed"], key=P + "seed", persist_state="page")
        st.text_input(W["sweep"], key=P + "sweep", placeholder="the sizes up to size",
                      help="Sizes for the error-against-size chart, such as 64, 256 or "
                           "64..1024. Blank: the problem's sizes up to the size above.")
    elif source == "op":
        op_widget(problems)
        sample_box = st.empty()
        st.text_input(W["seed"], key=P + "seed", persist_state="page",
                      help="The op's samples are drawn under torch.manual_seed(seed), and "
                           "verify's inputs from it (the Ops page's rows are seed 0).")
    else:
        st.text_input(W["target"], key=P + "target",
                      placeholder="mymodule:my_op",
                      help="A dotted module (from the server's directory and PYTHONPATH) "
                           "or a path to a .py file, then the function: its backward is "
                           "under test.")
        st.text_input(W["reference"], key=P + "reference",
                      placeholder="mymodule:my_op_reference",
                      help="The same mathematics in plain torch ops.")
        st.text_input(W["inputs"], key=P + "inputs", placeholder="x=16x64, w=64",
                      help="One per positional argument, in order: 16x64, 'scalar', or "
                           "16:int:10 for integers in [0, 10) (not differentiated).")
        st.text_input(W["seed"], key=P + "seed", persist_state="page")
    st.multiselect("dtypes", DTYPE_NAMES, key=P + "dtypes")
    if not allowed:
        st.caption("**Your own module:function is off here.** " + IMPORT_OFF)

ui.show_url_problems(problems)
view = ui.current_view(DEFAULT, P)
limits = ui.limits()

# ------------------------------------------------------------------ the report
if view.source == "module":
    if view.missing():
        st.info(f"Fill in {', '.join(view.missing())} in the sidebar: the candidate and the "
                "reference as module:function, and one NAME=SHAPE per positional argument.",
                icon=":material/edit:")
        st.stop()
    with ui.guard(), st.spinner("Importing and verifying…"):
        report = module_report(view, limits)
    st.subheader(f"{view.target} against {view.reference}")
    st.caption(f"Inputs: {', '.join(f'{n} {t}' for n, t in report.inputs)} · seed {view.seed}. "
               "A dotted module is imported once per server process: restart the server "
               "to pick up edits (a .py path is read again on every run).")
elif view.source == "op":
    if view.missing():
        st.info("Pick an op of the corpus in the sidebar, or open one from the Ops page.",
                icon=":material/edit:")
        st.stop()
    with ui.guard(), st.spinner(f"Building {view.op}…"):
        corpus = cached_op(view.op, view.seed)
        corpus.entry(None)
    view = sample_widget(corpus, sample_box)
    with ui.guard(), st.spinner(f"Verifying {view.op}…"):
        report = cached_op_report(view.op, view.sample, view.dtypes, view.seed, limits)
    op_header(corpus, report, view)
else:
    prob = view.problem_spec
    cand = prob.candidate(view.candidate)
    with ui.guard(), st.spinner(f"Verifying {prob.name} at {prob.size_name} "
                                f"{view.problem_size}…"):
        check_seconds(verify_seconds(prob.name, (view.problem_size,), view.dtypes), limits,
                      f"{prob.name} at {prob.size_name} {view.problem_size} in "
                      f"{len(view.dtypes)} dtypes")
        report = cached_report(prob.name, cand.name, view.problem_size, view.dtypes,
                               view.seed, limits)
    st.subheader(f"{prob.title} · {cand.name} ({cand.kind}) · {prob.size_name} "
                 f"{view.problem_size} · seed {view.seed}")
    st.markdown(f"`{prob.formula}`  \n**{cand.name}**: {cand.description}")

frame = report.frame
alert = st.success if report.passed else st.error
alert(f"**Verdict: {report.verdict()}**",
      icon=":material/check_circle:" if report.passed else ":material/bug_report:")

st.subheader("The verdicts")
st.html(verdict_table_html(frame))
for line in not_passing(frame):
    st.markdown(f"- {line}")
worst = worst_entries_table(report)
if len(worst):
    st.markdown("**The worst entries** of each row that did not pass: the index, the "
                "candidate's, autograd's and the truth's values, and the error in u "
                "of max|truth|.")
    st.dataframe(worst, hide_index=True, width="stretch")
st.caption("Errors are relative to the float64 truth on the same rounded inputs, in units "
           "of the row's u (max-norm: max|G − T|/max|T|; normwise: ‖G − T‖_F/‖T‖_F; scale, "
           "along the truth: |⟨G − T, T⟩|/‖T‖², where a wrong scale shows in full and "
           "rounding cancels). autograd: the reference by autograd in the same dtype, the "
           "yardstick. A row passes when, in every check, err ≤ threshold = 2 × autograd + "
           "(c + b·κ)·u (not along the truth in float64). Taylor rate (float64 only): 2 "
           "when the gradient is the derivative of the candidate's forward.")

ui.chart(verify_chart(frame, width=CHART_PANEL_PX),
         "Per input and dtype: the candidate (circle), autograd (diamond) and the "
         "threshold (tick). A candidate above its tick fails. "
         + verify_undrawable(frame).describe("candidate errors"))

# -------------------------------------------------------------- the |Δ| maps
inputs = list(dict.fromkeys(frame["input"]))
shown_problems: list[str] = []
ui.keep_options(P + "show_input", ("", *inputs), shown_problems, "show_input")
ui.keep_options(P + "show_dtype", ("", *report.dtypes), shown_problems, "show_dtype")
ui.show_url_problems(shown_problems)
st.subheader("Where the error sits: |Δ| per element")
left, right = st.columns(2)
left.selectbox("dtype drawn", ("", *report.dtypes), key=P + "show_dtype",
               format_func=lambda d: d or "auto: the first not passing")
right.selectbox("gradient drawn", ("", *inputs), key=P + "show_input",
                format_func=lambda n: f"∂{n}" if n else "auto: the first 2-D gradient")
view = ui.current_view(DEFAULT, P)
dtype = pick_dtype(frame, view.show_dtype)
with ui.guard(), st.spinner(f"Computing |Δ| in {dtype}…"):
    if view.source == "module":
        maps = module_deltas(view, dtype, limits)
    elif view.source == "op":
        maps = cached_op_deltas(view.op, view.sample, dtype, view.seed, limits)
    else:
        maps = cached_deltas(prob.name, cand.name, view.problem_size, dtype, view.seed, limits)
name = pick_input(maps, inputs, view.show_input)
if maps.failure:
    st.warning(f"No |Δ| maps in {dtype}: {maps.failure}.", icon=":material/warning:")
else:
    picture = maps.maps[name]
    shape = "x".join(map(str, picture.shape)) or "scalar"
    if picture.candidate is None:
        st.caption(f"∂{name} is {len(picture.shape)}-D ({shape}): the maps draw 1-D and "
                   "2-D gradients; pick another gradient above.")
    else:
        left, right = st.columns(2)
        with left:
            ui.chart(delta_heatmap(picture.candidate, f"|candidate − truth|, ∂{name}"),
                     f"The candidate's |Δ| in {dtype} on a log colour scale: rounding "
                     f"scatters it, a bug paints a pattern (a column, a block, one cell). "
                     f"Grey cells are exactly 0 ({picture.zeros:,} of {picture.entries:,}); "
                     "black ones NaN or ±inf. A pooled map shows each block's largest |Δ|.")
        with right:
            if picture.autograd is None:
                st.caption("In float64 the truth is autograd itself, so it has no "
                           "|Δ| of its own to draw.")
            else:
                ui.chart(delta_heatmap(picture.autograd, f"|autograd − truth|, ∂{name}"),
                         f"Autograd's |Δ| in {dtype}: what rounding alone does here.")

# ------------------------------------------------------------- the size sweep
if view.source == "problem":
    sizes = view.sweep_sizes()
    st.subheader(f"Error against {prob.size_name}")
    with ui.guard(), st.spinner(f"Verifying at {', '.join(map(str, sizes))}…"):
        check_seconds(verify_seconds(prob.name, sizes, view.dtypes), limits,
                      f"the size sweep {', '.join(map(str, sizes))}")
        reports = {s: cached_report(prob.name, cand.name, s, view.dtypes, view.seed, limits)
                   for s in sizes}
    sweep = sizes_frame(reports, prob.name, cand.name)
    ui.chart(size_chart(sweep, name, width=CHART_PANEL_PX),
             f"∂{name} at {prob.size_name} {', '.join(map(str, sizes))}: one line per dtype, "
             f"the marker its verdict there, the dashed line its threshold. An error that "
             f"stays with its threshold as the size grows is rounding; one that leaves it is "
             f"a bug. " + size_undrawable(sweep, name).describe("candidate errors"))
