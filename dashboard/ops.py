"""The Ops page's pure part: the op corpus that ships with the dashboard
(dashboard/data/ops.csv, written by ``python -m gradlab ops``; how, in
dashboard/data/README.md), gathered into one cell per op and dtype, filtered for the
grid, and the links that open an op on the Verify page.

An op is the unit ``python -m gradlab ops --op`` names and runs (an OpInfo's full name
such as ``nn.functional.pad.constant``, or ``kernel.<name>``): its entries' names are
the op's name and ``#`` and a sample (``softmax#4``). A cell (op × dtype) holds the
op's rows in that dtype, every entry and input: its status is the worst among them
(``GRID_STATUSES``, worst first), its error the largest ``err_max_u``. An op skipped as
a whole (its reason names no dtype) is skipped in every dtype.

Also the page's view config (``OpsView``, round-tripped through the URL by
dashboard/urlstate.py). No Streamlit here; the page (views/ops.py) stays thin.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlencode

import pandas as pd

from dashboard.formatting import number_text
from dashboard.pages import PAGES
from gradlab.charts.ops import GRID_STATUSES
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import MAX_BUDGET, Limits, check_seconds
from gradlab.corpus.run import COLUMNS, sample_of

#: The corpus run the page ships, and where it comes from (dashboard/data/README.md).
DATA_DIR = Path(__file__).resolve().parent / "data"
OPS_CSV = DATA_DIR / "ops.csv"
#: How the grid orders its ops (its rows).
ORDERS = {"worst": "the worst verdict first", "error": "the largest error first",
          "name": "by name"}
#: How many ops the grid draws: a row each, so the whole corpus is about 10,000 px tall.
SHOWN_CHOICES = (30, 60, 120, 300, 600)
#: The longest name filter.
MAX_NAME = 100
#: An op's name: letters, digits, _, ., - (``nn.functional.interpolate.nearest-exact``).
OP_NAME = re.compile(r"[A-Za-z_][\w.\-]*")
#: The most characters of evidence a tooltip shows.
TOOLTIP_CHARS = 400
#: The Verify page's URL path (it opens a corpus op with source=op).
VERIFY_PATH = next(p.url_path for p in PAGES if p.name == "verify")
#: The table of one op's rows: corpus column → header.
ROW_COLUMNS = {"entry": "entry", "dtype": "dtype", "input": "input", "shape": "shape",
               "status": "verdict", "err_max_u": "err / u", "threshold_max_u": "threshold / u",
               "evidence": "evidence"}
#: The rows' key: one (entry, dtype, input).
ROW_KEY = ["entry", "dtype", "input"]
_RANK = {status: i for i, status in enumerate(GRID_STATUSES)}


@dataclass(frozen=True)
class OpsView:
    """Every widget of the Ops page: the verdicts, dtypes and op-name substring the
    grid keeps, its order and how many ops it draws, and the op shown below it ("":
    the first drawn)."""

    #: Field → its widget's label: the page's one table for naming a field in an error.
    WIDGETS: ClassVar[dict[str, str]] = {
        "statuses": "verdicts", "dtypes": "dtypes", "name": "op name contains",
        "order": "order", "shown": "ops drawn", "op": "op"}

    statuses: tuple[str, ...] = GRID_STATUSES
    dtypes: tuple[str, ...] = DTYPE_NAMES
    name: str = ""
    order: str = "worst"
    shown: int = 60
    op: str = ""

    def __post_init__(self):
        check_subset(self.statuses, GRID_STATUSES, "statuses")
        check_subset(self.dtypes, DTYPE_NAMES, "dtypes")
        if not isinstance(self.name, str) or len(self.name) > MAX_NAME:
            raise GradlabError(f"name must be text of at most {MAX_NAME} characters "
                               f"(got {len(str(self.name))})", "name")
        if self.order not in ORDERS:
            raise GradlabError(f"order must be one of {', '.join(ORDERS)} (got "
                               f"{self.order!r})", "order")
        if self.shown not in SHOWN_CHOICES:
            raise GradlabError(f"shown must be one of {', '.join(map(str, SHOWN_CHOICES))} "
                               f"(got {self.shown!r})", "shown")
        if self.op and not OP_NAME.fullmatch(self.op):
            raise GradlabError(f"op must be an op's name, such as abs or kernel.clamp (got "
                               f"{self.op!r})", "op")


def check_subset(values, allowed: tuple[str, ...], name: str) -> None:
    """``values``: a tuple of at least one of ``allowed``, none repeated."""
    if not isinstance(values, tuple) or not values:
        raise GradlabError(f"{name} must name at least one of {', '.join(allowed)}", name)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise GradlabError(f"{name} must be among {', '.join(allowed)} (got "
                           f"{', '.join(map(str, bad))})", name)
    if len(set(values)) != len(values):
        raise GradlabError(f"{name} must not repeat a value (got {', '.join(values)})", name)


# ------------------------------------------------------------------ the data


def op_name(entry: str) -> str:
    """The op an entry belongs to: its name before '#' (``softmax#4`` → ``softmax``)."""
    return entry.partition("#")[0]


def load_ops(path: Path = OPS_CSV) -> pd.DataFrame:
    """The rows of a ``python -m gradlab ops`` CSV (``gradlab.corpus.run.COLUMNS``), text
    columns with "" for none, and ``op_name``. A file that is not one is a GradlabError
    naming it."""
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values={"err_max_u": [""]},
                            low_memory=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise GradlabError(f"{Path(path).name}: cannot read it ({exc})") from None
    missing = [c for c in COLUMNS if c not in frame]
    if missing:
        raise GradlabError(f"{Path(path).name}: not a `python -m gradlab ops` CSV: "
                           f"{len(missing)} missing columns ({', '.join(missing[:6])}"
                           f"{', …' if len(missing) > 6 else ''})")
    for column in ("err_max_u", "threshold_max_u"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["op_name"] = frame["entry"].astype(str).map(op_name)
    return frame


def provenance_line(frame: pd.DataFrame) -> str:
    """Where and when the rows were computed, in one line: "seed 0 · torch 2.13.0+cpu ·
    gradlab 0.1.0 · python 3.11.7 · cpu · 1 thread · 2026-12-05"."""
    def values(column: str) -> str:
        found = sorted({str(v) for v in frame[column] if str(v)}) if column in frame else []
        return ", ".join(found) or "?"

    stamps = sorted(str(t)[:10] for t in frame["timestamp"] if str(t))
    when = (stamps[0] if stamps[0] == stamps[-1] else f"{stamps[0]} … {stamps[-1]}") \
        if stamps else "?"
    threads = values("threads")
    return (f"seed {values('entry_seed')} · torch {values('torch_version')} · gradlab "
            f"{values('gradlab_version')} · python {values('python_version')} · "
            f"{values('device')} · {threads} thread{'' if threads == '1' else 's'} · {when}")


def _details(rows: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per group of ``keys``: its rows by status, worst first ("3 pass, 1 skipped")."""
    counts = pd.crosstab([rows[k] for k in keys], rows["status"])
    present = [s for s in GRID_STATUSES if s in counts]
    return pd.Series([", ".join(f"{n} {s}" for s, n in zip(present, line) if n)
                      for line in counts[present].itertuples(index=False)],
                     index=counts.index, name="detail")


def op_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (op, dtype): the worst status of the op's rows in that dtype, the
    largest ``err_max_u`` among its verified rows, the worst row's entry, input and
    evidence, and how many rows of each status (``detail``). A whole-op skip counts in
    every dtype; an op's verified rows in a dtype outrank its skips there."""
    rows = frame[["op_name", "family", "dtype", "status", "err_max_u", "entry", "input",
                  "evidence"]]
    whole = rows[(rows["status"] == "skipped") & (rows["dtype"] == "")]
    spread = [whole.assign(dtype=d) for d in DTYPE_NAMES]
    rows = pd.concat([rows[rows["dtype"] != ""], *spread], ignore_index=True)
    rows = rows.assign(rank=rows["status"].map(_RANK).fillna(len(_RANK)))
    rows = rows.sort_values(["op_name", "dtype", "rank", "err_max_u"],
                            ascending=[True, True, True, False], na_position="last")
    keys = ["op_name", "dtype"]
    cells = rows.drop_duplicates(keys).drop(columns=["rank", "err_max_u"])
    checked = rows[rows["status"] != "skipped"]
    err = checked.groupby(keys)["err_max_u"].max().rename("err_max_u").reset_index()
    detail = _details(rows, keys).reset_index()
    cells = cells.merge(err, on=keys, how="left").merge(detail, on=keys, how="left")
    cells["evidence"] = cells["evidence"].map(_shorten)
    return cells.reset_index(drop=True)


def _shorten(text: str) -> str:
    return text if len(text) <= TOOLTIP_CHARS else text[:TOOLTIP_CHARS - 1] + "…"


@dataclass(frozen=True)
class Shipped:
    """The shipped corpus run: its rows, its cells (``op_cells``) and its ops
    (``op_summary``)."""

    frame: pd.DataFrame
    cells: pd.DataFrame
    summary: pd.DataFrame

    @property
    def seed(self) -> int:
        """The run's seed (the first, were there several)."""
        return int(self.frame["entry_seed"].iloc[0]) if len(self.frame) else 0


def shipped(path: Path = OPS_CSV) -> Shipped:
    """The corpus run in ``path`` (the page caches it)."""
    frame = load_ops(path)
    return Shipped(frame, op_cells(frame), op_summary(frame))


# ---------------------------------------------------------------- the filters


@dataclass(frozen=True)
class Selection:
    """What the grid draws: ``ops`` in its order (at most the view's ``shown``), how
    many ops the filters keep (``total``), and the drawn ops' cells in the view's
    dtypes, each ``matched`` when its status is one the view picks, with its label
    (``err_text``) and its link to the Verify page."""

    ops: tuple[str, ...]
    total: int
    cells: pd.DataFrame


def named(cells: pd.DataFrame, view: OpsView) -> pd.DataFrame:
    """The cells of the ops whose name holds ``view.name`` (any case), in its dtypes."""
    needle = view.name.strip().casefold()
    keep = cells["dtype"].isin(view.dtypes)
    if needle:
        keep &= cells["op_name"].str.casefold().str.contains(needle, regex=False)
    return cells[keep]


def _ranked(cells: pd.DataFrame, order: str) -> list[str]:
    """The ops of ``cells`` in ``order`` (ORDERS), by name within a tie."""
    per_op = cells.assign(rank=cells["status"].map(_RANK).fillna(len(_RANK))).groupby(
        "op_name").agg(rank=("rank", "min"), err=("err_max_u", "max")).reset_index()
    per_op["err"] = per_op["err"].fillna(-math.inf)
    by = {"worst": (["rank", "err", "op_name"], [True, False, True]),
          "error": (["err", "op_name"], [False, True]),
          "name": (["op_name"], [True])}[order]
    return per_op.sort_values(by[0], ascending=by[1])["op_name"].tolist()


def select(cells: pd.DataFrame, view: OpsView) -> Selection:
    """The ops with a cell of a picked status in a picked dtype whose name holds
    ``view.name``, ranked by ``view.order`` (among the matching cells) and cut at
    ``view.shown``; their cells in the picked dtypes (the others faded)."""
    candidates = named(cells, view)
    matched = candidates[candidates["status"].isin(view.statuses)]
    ranked = _ranked(matched, view.order)
    ops = tuple(ranked[:view.shown])
    drawn = candidates[candidates["op_name"].isin(ops)].copy()
    drawn["matched"] = drawn["status"].isin(view.statuses)
    drawn["err_text"] = [("" if s == "skipped" else number_text(e))
                         for s, e in zip(drawn["status"], drawn["err_max_u"])]
    drawn["link"] = [verify_link(cell_query(r)) if r.status != "skipped" else ""
                     for r in drawn.itertuples()]
    return Selection(ops, len(ranked), drawn.reset_index(drop=True))


def status_counts(cells: pd.DataFrame, view: OpsView) -> dict[str, int]:
    """Cells (op × dtype) per status, worst first, among the ops whose name holds
    ``view.name``, in its dtypes (whatever the verdicts picked)."""
    counts = named(cells, view)["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in GRID_STATUSES}


def skipped_table(frame: pd.DataFrame, view: OpsView) -> pd.DataFrame:
    """The skips (ops the corpus cannot check, or not in one dtype) among the ops whose
    name holds ``view.name``, in its dtypes: op, family, dtype ("all" for the whole op)
    and the reason."""
    skips = frame[frame["status"] == "skipped"]
    needle = view.name.strip().casefold()
    keep = (skips["dtype"] == "") | skips["dtype"].isin(view.dtypes)
    if needle:
        keep &= skips["op_name"].str.casefold().str.contains(needle, regex=False)
    table = skips[keep].sort_values(["op_name", "dtype"])
    return pd.DataFrame({"op": table["op_name"], "family": table["family"],
                         "dtype": table["dtype"].replace("", "all"),
                         "reason": table["evidence"]}).reset_index(drop=True)


def pick_op(wanted: str, ops: tuple[str, ...]) -> str:
    """``wanted`` when the grid draws it, else the first op drawn ("" for none)."""
    return wanted if wanted in ops else (ops[0] if ops else "")


# ------------------------------------------------------------------- one op


def op_rows(frame: pd.DataFrame, op: str) -> pd.DataFrame:
    """The op's rows, worst first (as the CSV has them: every entry, dtype and input)."""
    rows = frame[frame["op_name"] == op]
    order = rows["status"].map(_RANK).fillna(len(_RANK))
    return rows.assign(rank=order).sort_values(["rank", "err_max_u"], ascending=[True, False],
                                               na_position="last").drop(columns="rank")


def rows_table(rows: pd.DataFrame) -> pd.DataFrame:
    """An op's rows as the page shows them (``ROW_COLUMNS``)."""
    return rows[list(ROW_COLUMNS)].rename(columns=ROW_COLUMNS).reset_index(drop=True)


def numbers_as_text(table: pd.DataFrame, columns) -> pd.DataFrame:
    """``table`` with ``columns`` written as the CLI prints numbers (three significant
    digits, "—" for none): a table shows the text as it is."""
    return table.assign(**{c: table[c].map(number_text) for c in columns if c in table})


def side_by_side(shipped: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """The shipped rows and a fresh run's, matched on (entry, dtype, input), in the
    shipped rows' order (a fresh row the shipped run lacks last): each side's verdict
    and err / u, and whether the verdicts agree."""
    keep = [*ROW_KEY, "status", "err_max_u"]
    order = shipped[keep].assign(order=range(len(shipped)))
    both = order.merge(fresh[keep], on=ROW_KEY, how="outer", suffixes=(" shipped", " fresh"))
    both = both.sort_values("order", na_position="last", kind="stable").drop(columns="order")
    both = both.reset_index(drop=True)
    both["same verdict"] = both["status shipped"] == both["status fresh"]
    return both.rename(columns={"status shipped": "shipped verdict",
                                "status fresh": "fresh verdict",
                                "err_max_u shipped": "shipped err / u",
                                "err_max_u fresh": "fresh err / u"})


def rerun_op(op: str, seed: int, limits: Limits) -> pd.DataFrame:
    """The op's rows run again here (every entry at ``seed``, every dtype it supports),
    as ``python -m gradlab ops --op OP --seed SEED`` writes them. Each entry's inputs
    are held to ``limits`` first (the memory guard names the input and the budget),
    then, under a time limit, the whole re-run (each entry probed,
    ``verification.cost``); ``gradlab.verify`` then reads the same limits from the
    environment."""
    from gradlab.corpus.build import op_corpus, op_names
    from gradlab.corpus.run import run_corpus
    from gradlab.verification.cost import estimate_seconds
    from gradlab.verification.spec import check_memory, estimate_bytes

    if op not in op_names([op]):
        raise GradlabError(f"op {op!r} names several ops of the corpus; pick one of "
                           f"{', '.join(op_names([op]))}", "op")
    entries, skipped = op_corpus(op, seed)
    for entry in entries:
        check_memory(estimate_bytes(entry.inputs), limits, f"{entry.name}'s inputs")
    if limits.max_seconds < MAX_BUDGET:  # each entry probed: the time guard
        check_seconds(sum(estimate_seconds(e.candidate, e.reference, e.inputs, e.dtypes,
                                           seed, limits) for e in entries),
                      limits, f"re-running {op} ({len(entries)} entries)")
    frame = run_corpus([(e, seed) for e in entries], [(s, seed) for s in skipped])
    frame["op_name"] = frame["entry"].astype(str).map(op_name)
    return frame


# -------------------------------------------------------------- the links


def op_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One line per op, indexed by its name: its family, how many entries were verified
    and with which reference kinds, its worst entry (the worst status, then the
    largest err / u; "" for an op skipped as a whole) and the dtypes it was verified in."""
    checked = frame[frame["status"] != "skipped"]
    ranked = checked.assign(rank=checked["status"].map(_RANK).fillna(len(_RANK))).sort_values(
        ["op_name", "rank", "err_max_u"], ascending=[True, True, False], na_position="last")
    by_op = checked.groupby("op_name")
    summary = pd.DataFrame({
        "family": frame.groupby("op_name")["family"].first(),
        "entries": by_op["entry"].nunique(),
        "reference": by_op["reference_kind"].agg(lambda s: ", ".join(sorted(set(s)))),
        "worst": ranked.drop_duplicates("op_name").set_index("op_name")["entry"],
        "dtypes": by_op["dtype"].agg(lambda s: ",".join(d for d in DTYPE_NAMES if d in set(s))),
    })
    summary["entries"] = summary["entries"].fillna(0).astype(int)
    return summary.fillna({"reference": "", "worst": "", "dtypes": ""})


def verify_query(op: str, entry: str, dtypes: str) -> dict[str, str]:
    """The Verify page's URL parameters that open ``op`` on its entry ``entry`` in
    ``dtypes`` (a comma list)."""
    query = {"source": "op", "op": op}
    sample = sample_of(entry)
    if sample >= 0:
        query["sample"] = str(sample)
    query["dtypes"] = dtypes
    return query


def summary_query(summary: pd.DataFrame, op: str) -> dict[str, str] | None:
    """The Verify page's URL parameters that open ``op`` (a line of ``op_summary``) on
    its worst entry, in every dtype it was verified in; None for an op skipped as a
    whole (Verify has nothing to run)."""
    line = summary.loc[op]
    return verify_query(op, line["worst"], line["dtypes"]) if line["entries"] else None


def cell_query(cell) -> dict[str, str]:
    """The Verify page's URL parameters for one cell of the grid: its op on the cell's
    worst entry, in the cell's dtype."""
    return {**verify_query(cell.op_name, str(cell.entry), cell.dtype), "show_dtype": cell.dtype}


def verify_link(query: dict[str, str]) -> str:
    """A link to the Verify page with ``query``, relative to the page it is on (so it
    works under a proxy's path prefix too)."""
    return f"{VERIFY_PATH}?{urlencode(query, safe=',')}"


def ops_table(summary: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    """One line per op drawn, in the grid's order: its family, worst verdict and largest
    err / u among the drawn cells, its entries and reference kinds, and its link to
    the Verify page (missing for an op skipped as a whole)."""
    cells = selection.cells.assign(rank=selection.cells["status"].map(_RANK))
    per_op = cells.groupby("op_name").agg(rank=("rank", "min"), err=("err_max_u", "max"))
    table = summary.loc[list(selection.ops)].join(per_op)
    links = [verify_link(verify_query(op, worst, dtypes)) if entries else None
             for op, worst, dtypes, entries in zip(table.index, table["worst"],
                                                   table["dtypes"], table["entries"])]
    return pd.DataFrame({"op": table.index, "family": table["family"].to_numpy(),
                         "verdict": [GRID_STATUSES[int(r)] for r in table["rank"]],
                         "err / u": table["err"].to_numpy(),
                         "entries": table["entries"].to_numpy(),
                         "reference": table["reference"].to_numpy(), "Verify": links})
