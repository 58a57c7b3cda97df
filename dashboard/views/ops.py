"""Ops: torch's own backward passes and the hand-written kernels of the op corpus
(`python -m gradlab ops`) at a glance, one cell per op and dtype coloured by its verdict;
each op opens on the Verify page, or runs again here."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard import ui
from dashboard.ops import (
    ORDERS,
    SHOWN_CHOICES,
    OpsView,
    Selection,
    Shipped,
    numbers_as_text,
    op_rows,
    ops_table,
    pick_op,
    provenance_line,
    rerun_op,
    rows_table,
    select,
    shipped,
    side_by_side,
    skipped_table,
    status_counts,
    summary_query,
    verify_link,
)
from dashboard.pages import PAGES
from gradlab.charts.ops import GRID_STATUSES, ops_grid
from gradlab.core.dtypes import DTYPE_NAMES

P = "ops."
DEFAULT = OpsView()
W = OpsView.WIDGETS  # each widget's label
VERIFY = next(p for p in PAGES if p.name == "verify")
#: Each status's badge colour in the counts (Streamlit's named colours).
BADGES = {"fail": "red", "error": "gray", "too-coarse": "orange", "degenerate": "violet",
          "pass": "green", "skipped": "gray"}

cached_shipped = ui.cached(shipped, max_entries=2)
cached_rerun = ui.cached(rerun_op, max_entries=16)


def show_counts(data: Shipped, view: OpsView) -> None:
    """Cells (op × dtype) by verdict, for the ops and dtypes the filters name."""
    counts = status_counts(data.cells, view)
    st.markdown("**Cells (op × dtype) by verdict:** " + " ".join(
        f":{BADGES[s]}-badge[{n:,} {s}]" for s, n in counts.items()))


def draw_grid(selection: Selection, view: OpsView) -> None:
    """The grid of the ops drawn, with what the cap left out."""
    if not selection.ops:
        st.info("No op matches the filters: pick more verdicts or dtypes, or another "
                "name.", icon=":material/filter_alt_off:")
        return
    if selection.total > len(selection.ops):
        st.caption(f"The first {len(selection.ops)} of the {selection.total:,} ops the "
                   f"filters keep ({ORDERS[view.order]}). Narrow the filters, or draw more "
                   f"with “{W['shown']}” in the sidebar.")
    ui.chart(ops_grid(selection.cells, selection.ops, view.dtypes),
             "One row per op, one column per dtype. A cell is the op's worst verdict over "
             "its entries and inputs in that dtype, its number the largest error in units "
             "of u of max|truth| (err_max_u); a faded cell has a verdict the filter does "
             "not pick, and an empty one a dtype the op was not run in. Hover a cell for "
             "its rows and evidence; click it to open that op on the Verify page.")


def list_ops(data: Shipped, selection: Selection) -> None:
    """The ops drawn, each with its link to the Verify page."""
    table = ops_table(data.summary, selection)
    st.dataframe(numbers_as_text(table, ["err / u"]),
                 hide_index=True, width="stretch", height=min(420, 35 * len(table) + 38),
                 column_config={
                     "Verify": st.column_config.LinkColumn(
                         "Verify", display_text="open on Verify",
                         help="Verify this op's worst entry live on the Verify page")})


def pick(data: Shipped, selection: Selection, problems: list[str]) -> str:
    """The op shown below the grid: the URL's or the menu's, when drawn; else the
    first drawn ("" in the state keeps the URL clean)."""
    wanted = st.session_state[P + "op"]
    if wanted and wanted not in data.summary.index:
        problems.append(f"op: {wanted!r} is not an op of the corpus")
    elif wanted and wanted not in selection.ops:
        st.caption(f"{wanted} is not among the ops drawn (see the filters); showing "
                   f"{selection.ops[0]}.")
    if wanted not in selection.ops:
        st.session_state[P + "op"] = ""
    st.selectbox(W["op"], ("", *selection.ops), key=P + "op",
                 format_func=lambda op: op or f"{selection.ops[0]} (the first drawn)")
    return pick_op(st.session_state[P + "op"], selection.ops)


def link_to_verify(data: Shipped, op: str) -> None:
    """The op's link to the Verify page (its worst entry, every dtype it ran in)."""
    query = summary_query(data.summary, op)
    if query is None:
        st.caption(f"{op} is skipped as a whole: there is nothing to verify.")
        return
    label = f"Open {op} on the Verify page"
    try:
        st.page_link(VERIFY.path, label=label, icon=VERIFY.icon, query_params=query)
    except StreamlitAPIException:  # the page run on its own: no navigation to link into
        st.markdown(f"[{label}]({verify_link(query)})")


def rerun(data: Shipped, op: str) -> None:
    """The button that runs the op again here, and its fresh rows beside the shipped."""
    if st.button(f"Re-run {op} here", icon=":material/replay:", key=P + "rerun",
                 help=f"Build {op}'s entries (seed {data.seed}) and verify them live, under "
                      "this instance's limits, as `python -m gradlab ops --op` does."):
        st.session_state[P + "rerun_of"] = op
    if st.session_state.get(P + "rerun_of") != op:
        return
    with ui.guard(), st.spinner(f"Running {op} (seed {data.seed})…"):
        fresh = cached_rerun(op, data.seed, ui.limits())
    both = side_by_side(op_rows(data.frame, op), fresh)
    same = int(both["same verdict"].sum())
    st.markdown(f"**Fresh rows of {op}** beside the shipped ones: the same verdict in "
                f"{same} of {len(both)} rows ({provenance_line(fresh)}).")
    numbers = [c for c in both if c.endswith("err / u")]
    st.dataframe(numbers_as_text(both, numbers), hide_index=True, width="stretch")


def one_op(data: Shipped, selection: Selection) -> None:
    """The op picked below the grid: its link to Verify, its rows, the re-run button."""
    st.subheader("One op")
    problems: list[str] = []
    op = pick(data, selection, problems)
    ui.show_url_problems(problems)
    ui.current_view(DEFAULT, P)
    link_to_verify(data, op)
    rows = rows_table(op_rows(data.frame, op))
    st.dataframe(numbers_as_text(rows, ["err / u", "threshold / u"]),
                 hide_index=True, width="stretch", height=min(420, 35 * len(rows) + 38))
    rerun(data, op)


st.title("Ops")
st.markdown("Are **torch's own backward passes** right in every dtype? The op corpus "
            "(`python -m gradlab ops`, docs/ops.md) verifies each differentiable OpInfo op, "
            "and the hand-written kernels, against a reference that autograd "
            "differentiates through other kernels, by the same verdict rule as Verify. "
            "An op that cannot be checked is *skipped*, with its reason.")
with ui.guard():
    data = cached_shipped()
st.caption(f"The run that ships with the dashboard (dashboard/data/ops.csv, "
           f"{len(data.frame):,} rows, {len(data.summary):,} ops): "
           f"{provenance_line(data.frame)}. Regenerate it with `python -m bench.make_ops_csv`.")

problems = ui.restore_widgets(DEFAULT, P) + ui.unknown_in_url(DEFAULT)
with st.sidebar:
    st.header("Filters")
    st.multiselect(W["statuses"], GRID_STATUSES, key=P + "statuses",
                   help="Keep the ops with a cell of one of these verdicts.")
    st.multiselect(W["dtypes"], DTYPE_NAMES, key=P + "dtypes")
    st.text_input(W["name"], key=P + "name", placeholder="softmax, kernel., norm",
                  help="A part of the op's name, in any case.")
    st.selectbox(W["order"], tuple(ORDERS), key=P + "order", format_func=ORDERS.get)
    st.selectbox(W["shown"], SHOWN_CHOICES, key=P + "shown",
                 help="One row per op: the whole corpus is about 550 rows.")
ui.show_url_problems(problems)
view = ui.current_view(DEFAULT, P)

show_counts(data, view)
selection = select(data.cells, view)
draw_grid(selection, view)
if selection.ops:
    list_ops(data, selection)
    one_op(data, selection)

if "skipped" in view.statuses:
    skips = skipped_table(data.frame, view)
    st.subheader(f"Skipped: {skips['op'].nunique():,} ops")
    st.caption("The ops (or one of their dtypes) the corpus cannot check, with the reason: "
               "no reference that differentiates through other kernels, a dtype the op "
               "does not support on the CPU, …")
    st.dataframe(skips, hide_index=True, width="stretch", height=min(420, 35 * len(skips) + 38))
