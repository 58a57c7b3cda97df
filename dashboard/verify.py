"""The Verify page's pure part: its view config, the calls the page caches, and the
verdict table. No Streamlit here; the page (views/verify.py) stays thin.

Two sources of a candidate:

- ``problem``: a built-in problem (``gradlab.problems.library.PROBLEMS``), one of
  its candidates (the hand-written backward, a planted mistake, torch's kernel),
  a size and a size sweep;
- ``module``: a user's ``module:function`` against a ``module:function``
  reference on drawn inputs, as ``python -m gradlab verify`` takes them.
  Importing a module runs its code in the server's process, so this source is
  off unless GRADLAB_ALLOW_IMPORT=1 (``gradlab.core.limits.allow_import``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from dashboard.formatting import plain
from gradlab.charts.heatmaps import Pooled, pooled
from gradlab.core.errors import GradlabError
from gradlab.core.limits import ALLOW_IMPORT, Limits, allow_import
from gradlab.core.lists import parse_list
from gradlab.problems.library import PROBLEMS, problem
from gradlab.problems.registry import Problem
from gradlab.verification.inputs import load, parse_inputs
from gradlab.verification.report import Report
from gradlab.verification.run import DEFAULT_DTYPES, gradient_deltas, verify
from gradlab.verification.spec import check_dtypes, check_seed

SOURCES = ("problem", "module")
#: How the sidebar names each source.
SOURCE_LABELS = {"problem": "built-in problem", "module": "module:function"}
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
    module source's ``module:function``s and NAME=SHAPE list.
    """

    #: Typed into text boxes and parsed by gradlab (a browser number box reads 1e23 as 1).
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("size", "seed")
    #: Field → its widget's label: the page's one table for naming a field in an error.
    WIDGETS: ClassVar[dict[str, str]] = {
        "size": "size", "seed": "seed", "sweep": "size sweep",
        "target": "candidate (module:function)", "reference": "reference (module:function)",
        "inputs": "inputs (NAME=SHAPE, …)"}

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
        if self.show_input and not self.show_input.isidentifier():
            raise GradlabError(f"show_input must be an input's name (got "
                               f"{self.show_input!r})", "show_input")
        for name in ("target", "reference"):
            check_target(getattr(self, name), name)
        self.input_items()

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
        """The module source's empty fields (none for the problem source)."""
        if self.source != "module":
            return []
        return [name for name in ("target", "reference", "inputs") if not getattr(self, name)]


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


#: The verdict table's columns: report column → header.
TABLE_COLUMNS = {
    "dtype": "dtype", "input": "input", "shape": "shape", "status": "verdict",
    "err_max_u": "err / u", "err_fro_u": "normwise / u", "err_scale_u": "scale / u",
    "autograd_max_u": "autograd / u", "autograd_fro_u": "autograd nw / u",
    "autograd_scale_u": "autograd sc / u",
    "threshold_max_u": "threshold / u", "threshold_fro_u": "threshold nw / u",
    "threshold_scale_u": "threshold sc / u",
    "taylor_rate": "Taylor rate", "evidence": "evidence",
}
NUMBER_COLUMNS = ("err / u", "normwise / u", "scale / u", "autograd / u",
                  "autograd nw / u", "autograd sc / u", "threshold / u",
                  "threshold nw / u", "threshold sc / u", "Taylor rate")


def verdict_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The report's rows as the page shows them (numbers in units of u); the Taylor
    column only where a float64 row has a rate."""
    table = frame[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    if table["Taylor rate"].isna().all():
        table = table.drop(columns="Taylor rate")
    return table


def not_passing(frame: pd.DataFrame) -> list[str]:
    """"dtype ∂input — status: evidence" for each row that does not pass, as Markdown
    (the evidence escaped: a user's error message may hold *, _ or $)."""
    rows = frame[frame["status"] != "pass"]
    return [f"**{r.dtype} ∂{r.input}** — {r.status}: {plain(r.evidence)}"
            for r in rows.itertuples()]


def verdict_line(report: Report) -> str:
    """"passed" or how many rows do not pass, by status."""
    if report.passed:
        return f"passed: all {len(report.rows)} rows (dtype × input) pass"
    counts = pd.Series([row["status"] for row in report.rows]).value_counts()
    parts = [f"{counts[s]} {s}" for s in ("fail", "error", "too-coarse", "degenerate")
             if s in counts]
    return f"NOT passed: {', '.join(parts)} of {len(report.rows)} rows (dtype × input)"



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
