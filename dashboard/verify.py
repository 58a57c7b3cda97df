"""The Verify page's pure part: its view config, the calls the page caches, and the
verdict table. No Streamlit here; the page (views/verify.py) stays thin.

Three sources of a candidate:

- ``problem``: a built-in problem (``gradlab.problems.library.PROBLEMS``), one of
  its candidates (the hand-written backward, a planted mistake, torch's kernel),
  a size and a size sweep;
- ``module``: a user's ``module:function`` against a ``module:function``
  reference on drawn inputs, as ``python -m gradlab verify`` takes them.
  Importing a module runs its code in the server's process, so this source is
  off unless GRADLAB_ALLOW_IMPORT=1 (``gradlab.core.limits.allow_import``);
- ``op``: an op of the corpus (``python -m gradlab ops``: torch's OpInfo ops and
  the hand-written kernels), one of its entries (a sample, ``sample`` None the
  first), built as ``gradlab.corpus.run.run_job`` builds it
  (``gradlab.corpus.build.op_corpus``) and verified live: the Ops page links here.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from dashboard.formatting import number_text, plain
from dashboard.tables import html_table, text_cell
from gradlab.charts.heatmaps import Pooled, pooled
from gradlab.core.errors import GradlabError
from gradlab.core.limits import ALLOW_IMPORT, Limits, allow_import
from gradlab.core.lists import parse_list
from gradlab.corpus.build import op_corpus, op_names
from gradlab.corpus.entry import Entry
from gradlab.corpus.run import op_of, sample_of
from gradlab.problems.library import PROBLEMS, problem
from gradlab.problems.registry import Problem
from gradlab.verification.cost import check_probed
from gradlab.verification.inputs import load, parse_inputs
from gradlab.verification.report import DISPLAY_NAMES, STATUS_COLORS, Report, cell
from gradlab.verification.run import DEFAULT_DTYPES, gradient_deltas, verify
from gradlab.verification.spec import check_dtypes, check_seed

SOURCES = ("problem", "module", "op")
#: How the sidebar names each source.
SOURCE_LABELS = {"problem": "built-in problem", "module": "module:function",
                 "op": "corpus op"}
#: A corpus op's name: letters, digits, _, ., - (``nn.functional.interpolate.nearest-exact``).
OP_NAME = re.compile(r"[A-Za-z_][\w.\-]*")
#: A gradient's name: an input's (``x``), or one of a list's (``input[0]``, ``arg1[0]``).
INPUT_NAME = re.compile(r"[A-Za-z_]\w*(\[\d+\])*")
#: The most sizes one size sweep runs.
MAX_SWEEP_SIZES = 8
#: Each of the charts' two panels (one per norm): both fit the main column at 1024 px
#: with the sidebar open.
CHART_PANEL_PX = 220
#: Why the module source is off, and how to turn it on (the page shows it).
IMPORT_OFF = (f"Importing a module runs its code in the server's process, so this "
              f"instance does not import `module:function`. To verify your own "
              f"function, run the dashboard on your own machine with the switch on: "
              f"`{ALLOW_IMPORT}=1 streamlit run app.py` (or use the CLI: "
              f"`python -m gradlab verify module:function --reference module:function "
              f"--input x=16x64`).")


@dataclass(frozen=True)
class VerifyView:
    """Every widget of the Verify page.

    ``size`` None is the problem's default size; ``sweep`` "" is the problem's
    sizes up to ``size``. ``show_dtype`` and ``show_input`` pick the |Δ| maps
    and the size chart ("": the first dtype with a row that does not pass, and
    the first 2-D gradient). ``target``, ``reference`` and ``inputs`` are the
    module source's ``module:function``s and NAME=SHAPE list; ``op`` and ``sample``
    the op source's op and entry (None: its first).
    """

    #: Typed into text boxes and parsed by gradlab (a browser number box reads 1e23 as 1).
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("size", "seed")
    #: Field → its widget's label: the page's one table for naming a field in an error.
    WIDGETS: ClassVar[dict[str, str]] = {
        "size": "size", "seed": "seed", "sweep": "size sweep",
        "target": "candidate (module:function)", "reference": "reference (module:function)",
        "inputs": "inputs (NAME=SHAPE, …)", "op": "op", "sample": "sample"}

    source: str = "problem"
    problem: str = "layernorm"
    candidate: str = "correct"
    size: int | None = None
    sweep: str = ""
    dtypes: tuple[str, ...] = DEFAULT_DTYPES
    seed: int = 0
    show_dtype: str = ""
    show_input: str = ""
    target: str = ""
    reference: str = ""
    inputs: str = ""
    op: str = ""
    sample: int | None = None

    def __post_init__(self):
        if self.source not in SOURCES:
            raise GradlabError(f"source must be one of {', '.join(SOURCES)} "
                               f"(got {self.source!r})", "source")
        prob = problem(self.problem)
        prob.candidate(self.candidate)
        if self.size is not None:
            check_size(prob, self.size, "size")
        self.sweep_sizes()
        if not isinstance(self.dtypes, tuple) or not self.dtypes:
            raise GradlabError("dtypes must name at least one dtype", "dtypes")
        if check_dtypes(self.dtypes) != self.dtypes:
            raise GradlabError(f"dtypes must not repeat a dtype (got "
                               f"{', '.join(self.dtypes)})", "dtypes")
        check_seed(self.seed)
        if self.show_dtype and self.show_dtype not in self.dtypes:
            raise GradlabError(f"show_dtype must be one of the dtypes "
                               f"{', '.join(self.dtypes)} (got {self.show_dtype!r})",
                               "show_dtype")
        if self.show_input and not INPUT_NAME.fullmatch(self.show_input):
            raise GradlabError(f"show_input must be an input's name (got "
                               f"{self.show_input!r})", "show_input")
        for name in ("target", "reference"):
            check_target(getattr(self, name), name)
        self.input_items()
        if self.op and not OP_NAME.fullmatch(self.op):
            raise GradlabError(f"op must be an op of the corpus, such as abs or kernel.clamp "
                               f"(got {self.op!r})", "op")
        if self.sample is not None and (isinstance(self.sample, bool) or not isinstance(
                self.sample, int) or self.sample < 0):
            raise GradlabError(f"sample must be an integer ≥ 0 (got {self.sample!r})", "sample")

    # ------------------------------------------------------------ problems

    @property
    def problem_spec(self) -> Problem:
        return PROBLEMS[self.problem]

    @property
    def problem_size(self) -> int:
        """The size the verdict table runs at."""
        return self.problem_spec.default_size if self.size is None else self.size

    def sweep_sizes(self) -> tuple[int, ...]:
        """The size sweep's sizes, ascending: ``sweep``'s, or the problem's own up to
        ``problem_size`` (that size included)."""
        prob = self.problem_spec
        if not self.sweep.strip():
            size = self.problem_size
            return tuple(sorted({s for s in prob.sizes if s <= size} | {size}))
        sizes = parse_list(self.sweep, int, "sweep")
        if len(set(sizes)) > MAX_SWEEP_SIZES:
            raise GradlabError(f"sweep must list at most {MAX_SWEEP_SIZES} sizes "
                               f"(got {len(set(sizes))})", "sweep")
        for size in sizes:
            check_size(prob, size, "sweep")
        return tuple(sorted(set(sizes)))

    # -------------------------------------------------------------- modules

    def input_items(self) -> list[str]:
        """``inputs`` as NAME=SHAPE items (checked: a GradlabError names ``inputs``)."""
        items = [part for part in self.inputs.replace(";", ",").replace(" ", ",").split(",")
                 if part]
        if items:
            parse_inputs(items, self.seed, what="inputs")
        return items

    def missing(self) -> list[str]:
        """The module source's empty fields, or the op source's (none for the problem
        source)."""
        needed = {"module": ("target", "reference", "inputs"), "op": ("op",)}
        return [name for name in needed.get(self.source, ()) if not getattr(self, name)]


def check_size(prob: Problem, size, name: str) -> None:
    """A size of ``prob``: an integer in [1, the largest size the problem lists]."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise GradlabError(f"{name} must be an integer ≥ 1 (got {size!r})", name)
    largest = max(prob.sizes)
    if size > largest:
        raise GradlabError(f"{name} must be ≤ {largest}, the largest {prob.size_name} the "
                           f"{prob.name} problem offers (got {size})", name)


def check_target(text: str, name: str) -> None:
    """"" or MODULE:NAME (syntax only: nothing is imported here)."""
    if not text:
        return
    module, sep, attr = text.partition(":")
    if not sep or not module.strip() or not all(p.isidentifier() for p in attr.split(".")):
        raise GradlabError(f"{name} must be MODULE:NAME, such as mymodule:my_function "
                           f"(got {text!r})", name)


# ----------------------------------------------------------- the computations


def problem_report(name: str, candidate: str, size: int, dtypes: tuple[str, ...], seed: int,
                   limits: Limits) -> Report:
    """``verify`` of a built-in problem's candidate at one size (the page caches it)."""
    return problem(name).verify(candidate, size, dtypes, seed, limits)


def module_functions(view: VerifyView):
    """(candidate, reference, inputs, names) of the module source, imported. Refused
    (GradlabError) unless GRADLAB_ALLOW_IMPORT=1."""
    if not allow_import():
        raise GradlabError(f"source=module is off on this instance: {IMPORT_OFF}")
    empty = view.missing()
    if empty:
        raise GradlabError(f"the module source needs {', '.join(empty)}")
    inputs = parse_inputs(view.input_items(), view.seed, what="inputs")
    candidate = load(view.target, "target")
    reference = load(view.reference, "reference")
    return candidate, reference, inputs, (view.target, view.reference)


def module_report(view: VerifyView, limits: Limits) -> Report:
    """``verify`` of the module source (never cached: the user's module may change)."""
    candidate, reference, inputs, names = module_functions(view)
    check_probed(candidate, reference, inputs, view.dtypes, view.seed, limits,
                 f"verifying {view.target} in {len(view.dtypes)} dtypes")
    return verify(candidate, reference, inputs, view.dtypes, view.seed, limits=limits,
                  names=names)


@dataclass(frozen=True)
class DeltaMap:
    """One gradient's |Δ| as the page draws it: |candidate − truth| and |autograd −
    truth| pooled to at most 32 × 32 cells (autograd None in float64), the
    gradient's shape, and how many entries of the candidate's |Δ| are exactly 0."""

    shape: tuple[int, ...]
    candidate: Pooled | None
    autograd: Pooled | None
    zeros: int
    entries: int


@dataclass(frozen=True)
class DeltaMaps:
    """Every differentiated input's ``DeltaMap`` in one dtype, or why there are none."""

    dtype: str
    maps: dict[str, DeltaMap]
    failure: str | None = None


def _summarize(deltas) -> DeltaMaps:
    maps = {}
    for name in deltas.peak:
        cand, comp = deltas.candidate.get(name), deltas.autograd.get(name)
        some = cand if cand is not None else comp
        shape = tuple(some.shape) if some is not None else ()
        drawable = len(shape) in (1, 2)
        maps[name] = DeltaMap(
            shape,
            pooled(cand) if drawable and cand is not None else None,
            pooled(comp) if drawable and comp is not None else None,
            int((cand == 0).sum()) if cand is not None else 0,
            cand.numel() if cand is not None else 0)
    return DeltaMaps(deltas.dtype, maps, deltas.failure)


def problem_deltas(name: str, candidate: str, size: int, dtype: str, seed: int,
                   limits: Limits) -> DeltaMaps:
    """The |Δ| maps of a built-in problem's candidate in ``dtype`` (the page caches
    them: pooled, they are small)."""
    prob = problem(name)
    cand = prob.candidate(candidate)
    return _summarize(gradient_deltas(cand.fn, prob.reference, prob.inputs(size, seed), dtype,
                                      seed, limits=limits))


def module_deltas(view: VerifyView, dtype: str, limits: Limits) -> DeltaMaps:
    """The |Δ| maps of the module source in ``dtype``."""
    candidate, reference, inputs, _ = module_functions(view)
    return _summarize(gradient_deltas(candidate, reference, inputs, dtype, view.seed,
                                      limits=limits))


# ---------------------------------------------------------------- corpus ops


@dataclass(frozen=True)
class OpEntry:
    """One entry of a corpus op as the page lists it: its name (``softmax#4``), its
    sample (-1 for a kernel's one entry), its reference's kind, the dtypes it runs
    in and its note."""

    name: str
    sample: int
    reference_kind: str
    dtypes: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class CorpusOp:
    """A corpus op before it is verified: its entries and the reasons of its skips
    (why it, or one of its dtypes, cannot be checked)."""

    name: str
    entries: tuple[OpEntry, ...]
    skipped: tuple[str, ...]

    @property
    def samples(self) -> tuple[int, ...]:
        """The entries' samples, in the corpus's order (none for a kernel)."""
        return tuple(e.sample for e in self.entries if e.sample >= 0)

    def entry(self, sample: int | None) -> OpEntry:
        """The entry of ``sample`` (None: the first). A GradlabError names the op when
        it has no entry, with its skips' reasons, and the sample when it has no such."""
        if not self.entries:
            raise GradlabError(f"op {self.name} has no entry to verify: "
                               f"{'; '.join(self.skipped) or 'no sample'}", "op")
        if sample is None:
            return self.entries[0]
        for entry in self.entries:
            if entry.sample == sample:
                return entry
        raise GradlabError(f"sample must be one of {', '.join(map(str, self.samples))} for "
                           f"op {self.name} (got {sample})", "sample")


def corpus_ops() -> tuple[str, ...]:
    """Every op of the corpus, as ``python -m gradlab ops --op`` names them (the page
    caches it: the first call loads torch's OpInfo database, a few seconds)."""
    return tuple(op_names(None))


def _built(op: str, seed: int) -> tuple[list[Entry], CorpusOp]:
    """The op's entries at ``seed`` and what the page lists of them. A name that is
    not exactly one op of the corpus is a GradlabError naming ``op``."""
    exact = op_names([op])
    if op not in exact:
        raise GradlabError(f"op {op} names {len(exact)} ops of the corpus: pick one of "
                           f"{', '.join(exact)}", "op")
    entries, skipped = op_corpus(op, seed)
    listed = tuple(OpEntry(e.name, sample_of(e.name), e.reference_kind, tuple(e.dtypes), e.note)
                   for e in entries)
    return entries, CorpusOp(op, listed, tuple(s.reason for s in skipped))


def corpus_op(op: str, seed: int) -> CorpusOp:
    """The op's entries and skips at ``seed`` (the page caches it)."""
    return _built(op, seed)[1]


def _op_entry(op: str, sample: int | None, seed: int) -> Entry:
    entries, listed = _built(op, seed)
    return entries[listed.entries.index(listed.entry(sample))]


def op_report(op: str, sample: int | None, dtypes: tuple[str, ...], seed: int,
              limits: Limits) -> Report:
    """``verify`` of a corpus op's entry in those of ``dtypes`` it runs in, as the corpus
    names the candidate and the reference (the page caches it)."""
    entry = _op_entry(op, sample, seed)
    wanted = tuple(d for d in dtypes if d in entry.dtypes)
    if not wanted:
        raise GradlabError(f"dtypes: {entry.name} runs in {', '.join(entry.dtypes)} only "
                           f"(got {', '.join(dtypes)})", "dtypes")
    check_probed(entry.candidate, entry.reference, entry.inputs, wanted, seed, limits,
                 f"verifying {entry.name} in {len(wanted)} dtypes")
    return verify(entry.candidate, entry.reference, entry.inputs, wanted, seed, limits=limits,
                  names=(f"{op_of(entry)} (the op)", f"{entry.reference_kind} reference"))


def op_deltas(op: str, sample: int | None, dtype: str, seed: int, limits: Limits
              ) -> DeltaMaps:
    """The |Δ| maps of a corpus op's entry in ``dtype`` (the page caches them)."""
    entry = _op_entry(op, sample, seed)
    return _summarize(gradient_deltas(entry.candidate, entry.reference, entry.inputs, dtype,
                                      seed, limits=limits))


# ----------------------------------------------------------------- the page


def pick_dtype(frame: pd.DataFrame, wanted: str) -> str:
    """``wanted``, or the first dtype (in the report's order) with a row that does not
    pass, or the first dtype."""
    if wanted:
        return wanted
    bad = frame.loc[frame["status"] != "pass", "dtype"]
    return str(bad.iloc[0]) if len(bad) else str(frame["dtype"].iloc[0])


def pick_input(maps: DeltaMaps | None, inputs: list[str], wanted: str) -> str:
    """``wanted`` when it is one of ``inputs``, else the first 2-D gradient, else the
    first input."""
    if wanted in inputs:
        return wanted
    if maps is not None:
        for name in inputs:
            if name in maps.maps and len(maps.maps[name].shape) == 2:
                return name
    return inputs[0]


#: The verdict table's checks: the report's column suffix → header, the headers the text
#: report and the HTML table use too (``gradlab.verification.report.DISPLAY_NAMES``).
CHECKS = {check: DISPLAY_NAMES[f"err_{check}_u"] for check in ("max", "fro", "scale")}
#: The verdict table's headers, their tooltips: what a cell shows.
TABLE_HELPS = {
    **{header: ("the candidate's error in u; below it, the threshold it is held to "
                "(2 × autograd + floor), red where the error exceeds it; hover for "
                "autograd's error") for header in CHECKS.values()},
    DISPLAY_NAMES["input"]: "the differentiated input, with its shape",
    DISPLAY_NAMES["taylor_rate"]: "float64's Taylor remainder rate: 2 when the gradient "
                                  "is the derivative of the candidate's forward",
}


def verdict_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The report's rows as the page's table holds them, under ``DISPLAY_NAMES``
    headers: dtype, input (with its shape), status, each check's (err, threshold,
    autograd) in u, and the Taylor rate only where a float64 row has one."""
    table = pd.DataFrame({
        DISPLAY_NAMES["dtype"]: frame["dtype"],
        DISPLAY_NAMES["input"]: list(zip(frame["input"], frame["shape"])),
        DISPLAY_NAMES["status"]: frame["status"],
        **{header: list(zip(frame[f"err_{check}_u"], frame[f"threshold_{check}_u"],
                            frame[f"autograd_{check}_u"]))
           for check, header in CHECKS.items()},
        DISPLAY_NAMES["taylor_rate"]: frame["taylor_rate"]})
    if frame["taylor_rate"].isna().all():
        table = table.drop(columns=DISPLAY_NAMES["taylor_rate"])
    return table


def verdict_table_html(frame: pd.DataFrame) -> str:
    """``verdict_table`` as HTML that fits the main column at 1024 px: each check's
    cell holds the error over its threshold ("≤ 14.9", or "> 14.9" in red), so what
    a user compares sits side by side; the status is a coloured label."""
    cells = {DISPLAY_NAMES["input"]: _input_cell, DISPLAY_NAMES["status"]: _status_cell,
             **{header: _check_cell for header in CHECKS.values()},
             DISPLAY_NAMES["taylor_rate"]: lambda rate: cell("taylor_rate", rate)}
    return html_table(verdict_table(frame),
                      numbers=(*CHECKS.values(), DISPLAY_NAMES["taylor_rate"]),
                      cells=cells, helps=TABLE_HELPS, name="verdicts")


def _input_cell(value: tuple[str, str]) -> str:
    name, shape = value
    return f"{text_cell(name)}<br>{_muted(text_cell(shape))}"


def _status_cell(status: str) -> str:
    color = STATUS_COLORS.get(status, STATUS_COLORS["error"])
    return f'<span style="color:{color};font-weight:600">{text_cell(status)}</span>'


def _check_cell(value: tuple[float, float, float]) -> str:
    """err, and below it "≤ threshold" (muted) or "> threshold" (red); "—" for a check
    that was not made (along the truth in float64, a row that did not run)."""
    err, threshold, autograd = value
    if math.isnan(err) or math.isnan(threshold):
        below = ("" if math.isnan(err) and math.isnan(threshold) else
                 "not checked" if math.isnan(threshold) else
                 f"threshold {number_text(threshold)}")
        return number_text(err) + (f"<br>{_muted(below)}" if below else "")
    exceeds = err > threshold
    bound = f"{'>' if exceeds else '≤'} {number_text(threshold)}"
    bound = (f'<span style="color:{STATUS_COLORS["fail"]}">{bound}</span>' if exceeds
             else _muted(bound))
    title = html.escape(f"autograd {number_text(autograd)} u; threshold "
                        f"{number_text(threshold)} u = 2 × autograd + floor")
    return (f'<span title="{title}" style="white-space:nowrap">{number_text(err)}<br>'
            f"{bound}</span>")


def _muted(text: str) -> str:
    return f'<span style="opacity:0.65;font-size:0.8rem">{text}</span>'


def candidate_label(name: str, kind: str) -> str:
    """A candidate as the menu lists it: its name, and its kind where that says more
    ("transposed (mistake)", but "correct", not "correct (correct)")."""
    return name if name == kind else f"{name} ({kind})"


def not_passing(frame: pd.DataFrame) -> list[str]:
    """"dtype ∂input — status: evidence" for each row that does not pass, as Markdown
    (the evidence escaped: a user's error message may hold *, _ or $)."""
    rows = frame[frame["status"] != "pass"]
    return [f"**{r.dtype} ∂{r.input}** — {_with_status(r.status, plain(r.evidence))}"
            for r in rows.itertuples()]


def _with_status(status: str, evidence: str) -> str:
    """"status: evidence", once: an evidence that already starts with its status
    ("error: the candidate raised …") is not prefixed again."""
    return evidence if evidence.startswith(f"{status}:") else f"{status}: {evidence}"





def worst_entries_table(report: Report, k: int = 5) -> pd.DataFrame:
    """The k entries with the largest |candidate − truth| of each row that did not
    pass (``Report.worst``), as the page shows them: where to look in the code."""
    bad = [(row["dtype"], row["input"]) for row in report.rows
           if row["status"] not in ("pass", "error", "degenerate")]
    frames = [report.worst(input=n, dtype=d, k=k) for d, n in bad]
    if not frames:
        return pd.DataFrame(columns=["dtype", "input", "index", "candidate", "autograd",
                                     "truth", "error / u", "at a kink"])
    table = pd.concat(frames, ignore_index=True)
    table["index"] = [str(list(i)) for i in table["index"]]
    return table.rename(columns={"error_u": "error / u", "at_kink": "at a kink"})
