"""verify's Report: one row per (dtype, differentiated input), as a frame, a text
table, an HTML table, JSON and a chart."""

from __future__ import annotations

import dataclasses
import html
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gradlab.core.errors import GradlabError
from gradlab.core.numbers import json_number
from gradlab.core.precise import widened_sub
from gradlab.core.provenance import PROVENANCE_COLUMNS, Column
from gradlab.core.verdict import compare_all

__all__ = [
    "cell", "CHART_SUFFIXES", "COLUMNS", "DISPLAY_NAMES", "empty_row", "Report", "REPR_ROWS",
    "STATUS_COLORS", "STATUS_ORDER", "table", "TEXT_COLUMNS", "top_block", "WORST_COLUMNS",
    "worst_entries", "WORST_KEPT", "WorstEntries"
]

#: What each check measures, relative to the truth T (G the gradient checked).
_CHECK_MEANINGS = {"max": "max-norm: max|G − T|/max|T|", "fro": "normwise: ‖G − T‖_F/‖T‖_F",
                   "scale": "along the truth: |⟨G − T, T⟩|/‖T‖² (not in float64)"}


def _per_check(prefix: str, what: str, in_u: bool = True) -> dict[str, Column]:
    """``{prefix}_{check}`` (relative) and ``{prefix}_{check}_u`` (in u) per check."""
    out = {}
    for check, measure in _CHECK_MEANINGS.items():
        out[f"{prefix}_{check}"] = Column("float", "relative", f"{what}, {measure}")
        if in_u:
            out[f"{prefix}_{check}_u"] = Column("float", "u", f"{prefix}_{check} in u of the "
                                                              "row's dtype")
    return out


#: The frame's columns, in order: name → (kind, unit, meaning). ``autograd_*`` is the
#: yardstick, the reference's gradient by autograd in the same dtype (float64's is
#: carried over from float32's in u, ``FLOAT64_AUTOGRAD_FACTOR``); a row passes when
#: err ≤ threshold = 2·autograd + floor in every check. Missing numbers are NaN.
COLUMNS: dict[str, Column] = {
    "dtype": Column("str", "—", "the dtype the candidate and autograd compute in"),
    "input": Column("str", "—", "the differentiated input"),
    "shape": Column("str", "—", "its shape"),
    "status": Column("str", "—", "pass, fail, too-coarse, degenerate or error"),
    "evidence": Column("str", "—", "the verdict's reason, with its numbers"),
    **_per_check("err", "the candidate's error"),
    **_per_check("autograd", "autograd's error: what rounding does here"),
    **_per_check("threshold", "2·autograd + floor"),
    **_per_check("sensitivity", "the smallest further bug that would fail: threshold + err",
                 in_u=False),
    **_per_check("bug_effect", "a planted mistake's exact effect (NaN otherwise)",
                 in_u=False),
    "u": Column("float", "relative", "the unit roundoff of the dtype"),
    "grad_dtype": Column("str", "—", "the dtype of the candidate's gradient"),
    "output_dtype": Column("str", "—", "the dtypes of the candidate's outputs"),
    "nonfinite": Column("int", "count", "the candidate's non-finite gradient entries"),
    "autograd_nonfinite": Column("int", "count", "autograd's non-finite gradient entries"),
    "kinks": Column("int", "count", "entries within rounding of a kink, left out"),
    "reference_precision": Column("str", "—", "the truth's precision"),
    "taylor_rate": Column("float", "—", "float64's Taylor remainder rate (2: the gradient "
                                        "is the forward's)"),
    "taylor_rates": Column("str", "—", "the rates over the Taylor test's steps"),
    "candidate": Column("str", "—", "the candidate's name"),
    "reference": Column("str", "—", "the reference's name"),
    "seed": Column("int", "—", "the draws' seed"),
    **PROVENANCE_COLUMNS,
}
#: An empty row's value per kind: text empty, numbers NaN, counts -1.
_MISSING = {"str": "", "float": math.nan, "int": -1}
#: verify --json's keys before 0.2 (the yardstick was "baseline"), kept through 0.2.
OLD_JSON_KEYS = {c.replace("autograd_", "baseline_", 1): c for c in COLUMNS
                 if c.startswith("autograd_")}
#: The worst entries' key for autograd's value before 0.2, kept through 0.2.
OLD_WORST_KEY = "composite"


#: The report's columns as every display heads them (the text report, the HTML table and
#: the dashboard's Verify table): frame column → header. Numbers in u of the row's dtype.
DISPLAY_NAMES: dict[str, str] = {
    "dtype": "dtype", "input": "input", "shape": "shape", "status": "status",
    "err_max_u": "err/u", "err_fro_u": "normwise/u", "err_scale_u": "scale/u",
    "autograd_max_u": "autograd/u", "autograd_fro_u": "autograd nw/u",
    "autograd_scale_u": "autograd sc/u",
    "threshold_max_u": "threshold/u", "threshold_fro_u": "threshold nw/u",
    "threshold_scale_u": "threshold sc/u",
    "grad_dtype": "grad in", "nonfinite": "non-finite", "taylor_rate": "Taylor",
    "evidence": "evidence",
}
#: The columns of the text report's table, in order (the HTML table adds the evidence).
TEXT_COLUMNS = ("dtype", "input", "status", "err_max_u", "err_fro_u", "err_scale_u",
                "autograd_max_u", "autograd_fro_u", "autograd_scale_u", "threshold_max_u",
                "threshold_fro_u", "threshold_scale_u", "grad_dtype", "nonfinite",
                "taylor_rate")
#: The statuses, the failing ones first (the HTML table's order, worst first).
STATUS_ORDER = ("fail", "error", "too-coarse", "degenerate", "pass")
#: One colour per status, in the HTML table and on the chart: pass green, fail red,
#: too-coarse amber, degenerate and error grey.
STATUS_COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "too-coarse": "#b07d00",
                 "degenerate": "#6e7781", "error": "#6e7781"}
#: The file types ``Report.save_chart`` writes (the exporter's formats).
CHART_SUFFIXES = (".html", ".png", ".svg")
#: The most rows that do not pass ``repr`` lists (``str`` has them all).
REPR_ROWS = 10


#: Entries with the largest |G − T| kept per (dtype, input), for ``Report.worst``.
WORST_KEPT = 100
#: ``Report.worst``'s columns.
WORST_COLUMNS = ("dtype", "input", "index", "candidate", "autograd", "truth", "error_u",
                 "at_kink")


def worst_entries(grad: torch.Tensor, autograd: torch.Tensor | None, truth: torch.Tensor,
                  peak: float, u: float, kinks=None, maxima: torch.Tensor | None = None
                  ) -> tuple[dict, ...]:
    """The WORST_KEPT entries with the largest |G − T|, largest first: the index, the
    candidate's, autograd's (NaN where there is none) and the truth's values,
    the error |G − T| in u of max|T|, and whether the entry sits at a kink.

    |G − T| is taken in float64 (``_top_indices``); the kept entries are gathered,
    and their indices unravelled, at once. ``maxima``: the block maxima of |G − T|
    where the caller has them (``verdict.compare_all`` with ``top_block(grad)``)."""
    g = grad.detach().reshape(-1)
    t = truth.detach().reshape(-1)
    k = min(WORST_KEPT, g.numel())
    flat = _top_indices(g, t, k, maxima)
    kept = [g[flat], t[flat]] + ([] if autograd is None
                                 else [autograd.detach().reshape(-1)[flat]])
    gs, ts, *bs = torch.stack([v.to(torch.float64) for v in kept]).tolist()
    bs = bs[0] if bs else [math.nan] * k
    ks = [False] * k if kinks is None else kinks.mask.reshape(-1)[flat].tolist()
    scale = peak * u if peak > 0 and math.isfinite(peak) else math.nan
    if truth.dim():
        coords = np.unravel_index(flat.cpu().numpy(), tuple(truth.shape))
        indices = list(zip(*(c.tolist() for c in coords)))
    else:  # a scalar's one entry has the empty index
        indices = [()] * k
    out = []
    for index, gi, ti, bi, at_kink in zip(indices, gs, ts, bs, ks):
        out.append({"index": index, "candidate": gi, "truth": ti,
                    "autograd": bi,
                    "error_u": abs(gi - ti) / scale if scale == scale else math.nan,
                    "at_kink": bool(at_kink)})
    return tuple(out)


#: A gradient of at most this many entries has its worst entries taken when first read
#: (``WorstEntries``); a larger one's are taken at once.
DEFERRED_ENTRIES = 1 << 18


class WorstEntries(Mapping):
    """(dtype, input) → that row's ``worst_entries``, in the order the rows were judged.

    A gradient of at most DEFERRED_ENTRIES entries has them taken when they are first
    read (``take``), from a copy of the candidate's gradient (which its author may
    reuse) and the run's own autograd and truth: a run whose worst entries nobody reads
    (``assert_ok`` on a passing report) skips their Python, about 0.2 ms a row. A larger
    gradient's are taken at once, so that no report holds its tensors. The entries are
    the same either way; a pickle holds the entries themselves. Reading is thread-safe
    (a report shared by a server's sessions)."""

    def __init__(self, entries: Mapping = ()):
        # key → the entries, or the arguments of ``worst_entries`` still to take them
        self._items: dict = {k: tuple(v) for k, v in dict(entries).items()}
        self._pending: set = set()
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], grad: torch.Tensor, autograd: torch.Tensor | None,
             truth: torch.Tensor, peak: float, u: float, kinks=None,
             maxima: torch.Tensor | None = None) -> None:
        """Row ``key``'s worst entries: ``worst_entries`` of these arguments, now or
        when first read."""
        if grad.numel() > DEFERRED_ENTRIES:
            self._items[key] = worst_entries(grad, autograd, truth, peak, u, kinks, maxima)
            return
        self._items[key] = (grad.detach().clone(), autograd, truth, peak, u, kinks, maxima)
        self._pending.add(key)

    def __getitem__(self, key) -> tuple[dict, ...]:
        with self._lock:
            if key in self._pending:
                self._items[key] = worst_entries(*self._items[key])
                self._pending.discard(key)
            return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"WorstEntries({len(self)} rows, {len(self._pending)} not yet read)"

    def __reduce__(self):
        return WorstEntries, (dict(self.items()),)


#: Entries per block of ``_top_indices``'s first pass.
_TOP_BLOCK = 256


def _abs_diff(g: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """|G − T| in float64, a NaN as +inf (it sorts first); G widened exactly, then
    one rounding (``precise.widened_sub``)."""
    t = t.to(torch.float64)
    out = torch.empty(t.shape, dtype=torch.float64, device=t.device)
    return widened_sub(g, t, out).abs_().nan_to_num_(nan=math.inf)


def top_block(grad: torch.Tensor) -> int:
    """The run of entries whose maxima ``worst_entries`` sweeps first (``_top_indices``)
    for ``grad``, or 0 where it looks at all of |G − T| at once (a small gradient)."""
    n = grad.numel()
    return _TOP_BLOCK if _prefiltered(n, min(WORST_KEPT, n)) else 0


def _prefiltered(n: int, k: int) -> bool:
    return n // _TOP_BLOCK * _TOP_BLOCK >= 4 * k * _TOP_BLOCK


def _top_indices(g: torch.Tensor, t: torch.Tensor, k: int,
                 maxima: torch.Tensor | None = None) -> torch.Tensor:
    """The flat indices of the k largest |G − T| (``_abs_diff``; 1-D G and T), largest
    first, equal ones in index order (``_largest``), without the whole of |G − T| on
    a large gradient.

    Each block's maximum comes from ``verdict.compare_all`` (``maxima``, where the
    caller has taken that pass already). The k-th largest block maximum m_k is at
    most the k-th largest entry (the k maxima are entries ≥ m_k), so every entry ≥
    the k-th largest lies in a block whose maximum is ≥ m_k (or in the tail): the k
    are taken from those blocks' entries, in index order, so that ties come out as
    they would from all of |G − T|."""
    n = g.numel()
    whole = n // _TOP_BLOCK * _TOP_BLOCK
    if not _prefiltered(n, k):
        return _largest(_abs_diff(g, t), k)
    if maxima is None:
        maxima = compare_all(t, (g,), "float64", _TOP_BLOCK).maxima
    floor = torch.topk(maxima, k).values[-1].item()
    blocks = (maxima >= floor).nonzero().squeeze(1)
    index = (blocks.unsqueeze(1) * _TOP_BLOCK
             + torch.arange(_TOP_BLOCK, device=blocks.device)).reshape(-1)
    if whole < n:
        index = torch.cat((index, torch.arange(whole, n, device=index.device)))
    index = index.to(g.device)
    return index[_largest(_abs_diff(g[index], t[index]), k)]


def _largest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The positions of the k largest ``values`` (1-D, no NaN), largest first; equal
    values in position order, whichever of them is kept at the k-th value too.
    torch.topk alone leaves the order of ties to its algorithm (it differs between
    the CPU and CUDA): verify's worst entries are the same wherever it runs."""
    if k == 0:
        return torch.zeros(0, dtype=torch.long, device=values.device)
    top, at = torch.topk(values, min(k + 1, values.numel()))
    if bool((top[1:] < top[:-1]).all()):  # no two of the k + 1 largest equal: one order
        return at[:k]
    kth = top[k - 1]
    above = (values > kth).nonzero().squeeze(1)
    above = above[torch.sort(values[above], descending=True, stable=True).indices]
    tied = (values == kth).nonzero().squeeze(1)[:k - above.numel()]
    return torch.cat((above, tied))


def empty_row() -> dict:
    """A row with every column: text empty, numbers NaN, counts -1."""
    return {c: _MISSING[column.kind] for c, column in COLUMNS.items()}


@dataclass(frozen=True, repr=False)
class Report:
    """What ``gradlab.verify`` found: ``rows`` (one per dtype × differentiated
    input, columns ``COLUMNS``), the names of the candidate and reference, the
    dtypes, the seed, each input's description and the provenance."""

    rows: tuple[dict, ...]
    candidate: str
    reference: str
    dtypes: tuple[str, ...]
    seed: int
    inputs: tuple[tuple[str, str], ...]
    provenance: dict
    #: (dtype, input) → its worst entries (``WorstEntries``, or any mapping of them).
    entries: Mapping = field(default_factory=dict, repr=False)
    #: frame → an Altair chart: set by ``gradlab.verify`` (the charts are a layer above).
    chart_builder: Callable | None = field(default=None, repr=False, compare=False)
    #: (chart, "html" | "png" | "svg") → the file's bytes, for ``save_chart``: set by
    #: ``gradlab.verify`` (``gradlab.charts.export.chart_bytes``).
    chart_exporter: Callable | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """True only when every (dtype, input) row is ``pass``."""
        return bool(self.rows) and all(row["status"] == "pass" for row in self.rows)

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows), columns=list(COLUMNS))

    def worst(self, input: str | None = None, dtype: str | None = None,
              k: int = 10) -> pd.DataFrame:
        """The k entries with the largest |candidate − truth| of each (dtype, input)
        row selected (``input``, ``dtype``: None selects all), largest first: the
        index, the candidate's, autograd's and the truth's values, and the
        error in u of max|truth| (``WORST_COLUMNS``)."""
        from gradlab.core.errors import GradlabError

        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= WORST_KEPT:
            raise GradlabError(f"k must be an integer from 1 to {WORST_KEPT} (got {k!r})", "k")
        for value, what, known in ((input, "input", [n for n, _ in self.inputs]),
                                   (dtype, "dtype", list(self.dtypes))):
            if value is not None and value not in known:
                raise GradlabError(f"{what} must be one of {', '.join(known)} (got "
                                   f"{value!r})", what)
        records = [{"dtype": d, "input": n, **entry}
                   for (d, n), entries in self.entries.items()
                   if (dtype is None or d == dtype) and (input is None or n == input)
                   for entry in entries[:k]]
        return pd.DataFrame(records, columns=list(WORST_COLUMNS))

    def failures(self) -> list[dict]:
        """The rows that are not ``pass``."""
        return [row for row in self.rows if row["status"] != "pass"]

    def assert_ok(self) -> None:
        """Raise AssertionError listing each non-pass row with its evidence."""
        bad = self.failures()
        if bad:
            lines = [f"gradlab.verify: {len(bad)} of {len(self.rows)} rows of {self.candidate} "
                     f"against {self.reference} did not pass:"]
            lines += [f"  {row['dtype']} {row['input']}: {row['status']}: {row['evidence']}"
                      for row in bad]
            raise AssertionError("\n".join(lines))

    def counts(self) -> dict[str, int]:
        """How many rows have each status, pass first then the failing ones worst
        first (statuses no row has are left out)."""
        statuses = [row["status"] for row in self.rows]
        order = ("pass", *STATUS_ORDER[:-1])
        present = sorted(set(statuses), key=lambda s: order.index(s) if s in order
                         else len(order))
        return {s: statuses.count(s) for s in present}

    def verdict(self) -> str:
        """"passed: 4 pass" or "NOT passed: 3 pass, 1 fail": the verdict and the rows
        (dtype × input) by status."""
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        return f"{'passed' if self.passed else 'NOT passed'}: {counts or 'no rows'}"

    def title(self) -> str:
        inputs = ", ".join(f"{name} {text}" for name, text in self.inputs)
        return (f"gradlab verify · {self.candidate} against {self.reference} · seed "
                f"{self.seed} · inputs {inputs}")

    def _head(self) -> list[str]:
        """The text report's first two lines: the title; where it ran and the verdict."""
        p = self.provenance
        threads = p["threads"]
        return [self.title(),
                f"torch {p['torch_version']} · {p['device']} · {threads} "
                f"thread{'' if threads == 1 else 's'} · {self.verdict()}"]

    def _worst_lines(self, row: dict, k: int = 3) -> list[str]:
        """A failing row's k worst entries, one line each (none for other statuses)."""
        if row["status"] != "fail":
            return []
        return [f"    worst entry {_index(e['index'])}: candidate {e['candidate']:.9g}, "
                f"truth {e['truth']:.9g} ({_g(e['error_u'])} u of max|truth|)"
                + (", at a kink" if e["at_kink"] else "")
                for e in self.entries.get((row["dtype"], row["input"]), ())[:k]]

    def __repr__(self) -> str:
        """The text report's first lines: the title, the verdict with the rows by
        status, and the rows that do not pass with their evidence (``str`` has every
        row, ``frame`` every number)."""
        lines = self._head()
        bad = self.failures()
        shown = bad[:REPR_ROWS]
        if shown:
            lines += ["", *table([DISPLAY_NAMES[c] for c in TEXT_COLUMNS],
                                 [[cell(c, row[c]) for c in TEXT_COLUMNS] for row in shown])]
            for row in shown:
                lines.append(f"{row['dtype']} {row['input']}: {row['evidence']}")
                lines += self._worst_lines(row, k=1)
            if len(bad) > len(shown):
                lines.append(f"… and {len(bad) - len(shown)} more rows that do not pass")
        lines.append("print(report) for every row and the evidence; report.frame for every "
                     "number")
        return "\n".join(lines)

    def __str__(self) -> str:
        lines = [*self._head(), ""]
        lines += table([DISPLAY_NAMES[c] for c in TEXT_COLUMNS],
                       [[cell(c, row[c]) for c in TEXT_COLUMNS] for row in self.rows])
        lines.append("")
        lines.append("errors are relative to the truth (max-norm: max|G − T|/max|T|; normwise: "
                     "‖G − T‖_F/‖T‖_F; scale, along the truth: |⟨G − T, T⟩|/‖T‖²), in units "
                     "of u of the row's dtype; autograd = the reference by autograd in the "
                     "same dtype")
        by_precision: dict[str, list[str]] = {}
        for row in self.rows:
            if row["reference_precision"]:
                dtypes = by_precision.setdefault(row["reference_precision"], [])
                if row["dtype"] not in dtypes:
                    dtypes.append(row["dtype"])
        lines += [f"truth for {', '.join(dtypes)}: the reference in {precision}, on the same "
                  "rounded inputs" for precision, dtypes in by_precision.items()]
        for row in self.rows:
            lines.append(f"{row['dtype']} {row['input']}: {row['evidence']}")
            lines += self._worst_lines(row)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The text report's table in HTML, styled inline (no stylesheet, no network):
        the rows that do not pass first, each status in its colour, the evidence folded
        in ``<details>``; the same headers as the text report (``DISPLAY_NAMES``)."""
        columns = [*TEXT_COLUMNS, "evidence"]
        head = "".join(f'<th style="{_TH}{_align(c)}">{html.escape(DISPLAY_NAMES[c])}</th>'
                       for c in columns)
        body = []
        for row in self.sorted_rows():
            tint = "" if row["status"] == "pass" else f"background:{_TINT};"
            cells = []
            for c in TEXT_COLUMNS:
                text = html.escape(cell(c, row[c]))
                if c == "status":
                    text = _badge(row["status"])
                cells.append(f'<td style="{_TD}{_align(c)}">{text}</td>')
            cells.append(f'<td style="{_TD}min-width:18em;max-width:36em">'
                         f'{_details(row["evidence"], self._worst_lines(row))}</td>')
            body.append(f'<tr style="{tint}" data-status="{html.escape(row["status"])}">'
                        f'{"".join(cells)}</tr>')
        color = STATUS_COLORS["pass" if self.passed else "fail"]
        verdict = self.verdict()
        word, _, rest = verdict.partition(":")
        where = self._head()[1].rpartition(" · ")[0]
        return (f'<div class="gradlab-report" style="{_FONT}">'
                f'<div style="font-weight:600">{html.escape(self.title())}</div>'
                f'<div style="margin:2px 0 6px">{html.escape(where)} · '
                f'<span style="color:{color};font-weight:700">{html.escape(word)}</span>:'
                f'{html.escape(rest)}</div>'
                f'<div style="overflow-x:auto"><table style="{_TABLE}"><thead><tr>{head}'
                f'</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
                f'<div style="margin-top:6px;opacity:0.75">Errors are relative to the truth, '
                f"in units of u of the row's dtype (err: max-norm; nw: normwise; sc: along "
                f"the truth); autograd = the reference by autograd in the same dtype; a row "
                f"passes when err ≤ threshold = 2 × autograd + floor in every check.</div>"
                f"</div>")

    def sorted_rows(self) -> list[dict]:
        """The rows, those that do not pass first (worst status first, ``STATUS_ORDER``),
        otherwise in the report's order."""
        rank = {s: i for i, s in enumerate(STATUS_ORDER)}
        return sorted(self.rows, key=lambda row: rank.get(row["status"], 0))

    def with_charts(self, builder: Callable, exporter: Callable | None = None) -> Report:
        """This report, drawing its chart with ``builder`` (frame → Altair chart) and
        saving it with ``exporter`` ((chart, "html" | "png" | "svg") → bytes)."""
        return dataclasses.replace(self, chart_builder=builder,
                                   chart_exporter=exporter or self.chart_exporter)

    def chart(self):
        """Candidate vs autograd vs threshold per dtype and input (log scale), one
        panel per check; the rows that do not pass ringed in their status's colour."""
        if self.chart_builder is None:
            raise GradlabError("this report has no chart builder: gradlab.verify's reports "
                               "draw (or use gradlab.charts.verify.verify_chart(report.frame))")
        return self.chart_builder(self.frame)

    def save_chart(self, path) -> Path:
        """Write ``chart()`` to ``path``: .html (self-contained: it renders offline),
        .png or .svg. Returns the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in CHART_SUFFIXES:
            raise GradlabError(f"path must end in {', '.join(CHART_SUFFIXES)} (got "
                               f"{str(path)!r})", "path")
        if self.chart_exporter is None:
            raise GradlabError("this report has no chart exporter: gradlab.verify's reports "
                               "save (or use gradlab.charts.export.chart_bytes)")
        path.write_bytes(self.chart_exporter(self.chart(), suffix[1:]))
        return path

    def to_json_dict(self) -> dict:
        """Strict-JSON data: ``passed``, ``verdicts`` (each row, NaN and ±inf as
        strings, provenance apart), ``worst`` (each row's ten largest errors, as
        ``worst``) and ``provenance``."""
        verdicts = [{k: json_number(v) for k, v in row.items() if k not in PROVENANCE_COLUMNS}
                    for row in self.rows]
        for row in verdicts:  # the 0.1 names, kept through 0.2 (docs/verify.md)
            row.update({old: row[new] for old, new in OLD_JSON_KEYS.items()})
        worst = [{"dtype": d, "input": n,
                  "entries": [{k: list(v) if k == "index" else json_number(v)
                               for k, v in {**e, OLD_WORST_KEY: e["autograd"]}.items()}
                              for e in entries[:10]]}
                 for (d, n), entries in self.entries.items()]
        return {"passed": self.passed, "candidate": self.candidate,
                "reference": self.reference, "seed": self.seed, "dtypes": list(self.dtypes),
                "inputs": dict(self.inputs), "verdicts": verdicts, "worst": worst,
                "provenance": dict(self.provenance)}


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _g(x) -> str:
    if _missing(x):
        return "—"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def cell(column: str, value) -> str:
    """A report value as the text report and the HTML show it: numbers to three
    significant digits (the Taylor rate to two decimals), "—" for a missing one
    (NaN, None, an empty text, a count of -1)."""
    if _missing(value) or value == "":
        return "—"
    kind = COLUMNS[column].kind
    if column == "taylor_rate":
        return _rate(float(value))
    if kind == "float":
        return _g(float(value))
    if kind == "int":
        return _count(int(value))
    return str(value)


def _index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _rate(x: float) -> str:
    return "—" if _missing(x) else f"{x:.2f}"


def _count(x: int) -> str:
    return "—" if x is None or x < 0 else str(x)


# The HTML table's inline styles (a notebook shows no stylesheet of ours). The text keeps
# the notebook's colour and the tint is translucent, so a dark theme reads as well.
_FONT = ("font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:13px;"
         "line-height:1.4")
_TABLE = "border-collapse:collapse;font-variant-numeric:tabular-nums"
_TH = "padding:3px 6px;border-bottom:2px solid #d0d7de;vertical-align:bottom;font-weight:600;"
_TD = "padding:3px 6px;border-bottom:1px solid #d0d7de80;vertical-align:top;"
_TINT = "rgba(207,34,46,0.07)"
#: The columns that hold numbers (right-aligned).
_NUMBERS = {c for c in TEXT_COLUMNS if COLUMNS[c].kind in ("float", "int")}
#: How much of the evidence the folded <details> shows.
_SUMMARY_CHARS = 60


def _align(column: str) -> str:
    return "text-align:right;" if column in _NUMBERS else "text-align:left;"


def _badge(status: str) -> str:
    """A status as a coloured label."""
    color = STATUS_COLORS.get(status, STATUS_COLORS["error"])
    return (f'<span style="background:{color};color:#fff;border-radius:3px;padding:0 6px;'
            f'font-weight:600;white-space:nowrap">{html.escape(status)}</span>')


def _details(evidence: str, worst: list[str]) -> str:
    """The evidence folded: its first comparison as the summary ("bug: normwise 128 u >
    4.78 u"), all of it (and a failing row's worst entries) when opened."""
    if not evidence:
        return "—"
    head = evidence.split(";")[0].split(" = ")[0]
    if len(head) > _SUMMARY_CHARS:
        head = head[:_SUMMARY_CHARS].rstrip() + "…"
    inner = "<br>".join(html.escape(line.strip()) for line in [evidence, *worst])
    return (f"<details><summary style=\"cursor:pointer\">{html.escape(head)}</summary>"
            f'<div style="margin-top:4px;white-space:normal">{inner}</div></details>')


def table(header: list[str], body: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return ["  ".join(text.ljust(w) for text, w in zip(row, widths)).rstrip()
            for row in [header, *body]]
