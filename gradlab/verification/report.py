"""verify's Report: one row per (dtype, differentiated input), as a frame, a text
table, an HTML table, JSON and a chart."""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch

from gradlab.core.errors import GradlabError
from gradlab.core.numbers import json_number
from gradlab.core.provenance import PROVENANCE_COLUMNS, Column

__all__ = [
    "COLUMNS", "empty_row", "Report", "table", "WORST_COLUMNS", "worst_entries", "WORST_KEPT"
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


#: Entries with the largest |G − T| kept per (dtype, input), for ``Report.worst``.
WORST_KEPT = 100
#: ``Report.worst``'s columns.
WORST_COLUMNS = ("dtype", "input", "index", "candidate", "autograd", "truth", "error_u",
                 "at_kink")


def worst_entries(grad: torch.Tensor, autograd: torch.Tensor | None, truth: torch.Tensor,
                  peak: float, u: float, kinks=None) -> tuple[dict, ...]:
    """The WORST_KEPT entries with the largest |G − T|, largest first: the index, the
    candidate's, autograd's (NaN where there is none) and the truth's values,
    the error |G − T| in u of max|T|, and whether the entry sits at a kink."""
    g = grad.detach().to(torch.float64).reshape(-1)
    t = truth.detach().reshape(-1)
    d = (g - t).abs().nan_to_num(nan=math.inf)
    k = min(WORST_KEPT, d.numel())
    _, flat = torch.topk(d, k)
    b = None if autograd is None else autograd.detach().to(torch.float64).reshape(-1)
    mask = None if kinks is None else kinks.mask.reshape(-1)
    scale = peak * u if peak > 0 and math.isfinite(peak) else math.nan
    out = []
    for i in flat.tolist():
        index = tuple(int(j) for j in torch.unravel_index(torch.tensor(i), truth.shape))
        gi, ti = float(g[i]), float(t[i])
        out.append({"index": index, "candidate": gi, "truth": ti,
                    "autograd": math.nan if b is None else float(b[i]),
                    "error_u": abs(gi - ti) / scale if scale == scale else math.nan,
                    "at_kink": bool(mask is not None and mask[i])})
    return tuple(out)


def empty_row() -> dict:
    """A row with every column: text empty, numbers NaN, counts -1."""
    return {c: _MISSING[column.kind] for c, column in COLUMNS.items()}


@dataclass(frozen=True)
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
    entries: dict = field(default_factory=dict, repr=False)
    #: frame → an Altair chart: set by ``gradlab.verify`` (the charts are a layer above).
    chart_builder: Callable | None = field(default=None, repr=False, compare=False)

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

    def title(self) -> str:
        inputs = ", ".join(f"{name} {text}" for name, text in self.inputs)
        return (f"gradlab verify · {self.candidate} against {self.reference} · seed "
                f"{self.seed} · inputs {inputs}")

    def __str__(self) -> str:
        p = self.provenance
        lines = [self.title(),
                 f"torch {p['torch_version']} · {p['device']} · {p['threads']} threads · "
                 f"{'passed' if self.passed else 'NOT passed'}", ""]
        header = ["dtype", "input", "status", "err/u", "normwise/u", "scale/u",
                  "autograd/u", "autograd nw/u", "autograd sc/u", "threshold/u",
                  "threshold nw/u", "threshold sc/u", "grad in", "non-finite", "Taylor"]
        body = [[row["dtype"], row["input"], row["status"], _g(row["err_max_u"]),
                 _g(row["err_fro_u"]), _g(row["err_scale_u"]), _g(row["autograd_max_u"]),
                 _g(row["autograd_fro_u"]), _g(row["autograd_scale_u"]),
                 _g(row["threshold_max_u"]), _g(row["threshold_fro_u"]),
                 _g(row["threshold_scale_u"]), row["grad_dtype"] or "—",
                 _count(row["nonfinite"]), _rate(row["taylor_rate"])]
                for row in self.rows]
        lines += table(header, body)
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
            if row["status"] == "fail":
                lines += [f"    worst entry {_index(e['index'])}: candidate {e['candidate']:.9g}, "
                          f"truth {e['truth']:.9g} ({_g(e['error_u'])} u of max|truth|)"
                          + (", at a kink" if e["at_kink"] else "")
                          for e in self.entries.get((row["dtype"], row["input"]), ())[:3]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        columns = ["dtype", "input", "status", "err_max_u", "err_fro_u", "err_scale_u",
                   "autograd_max_u", "autograd_fro_u", "autograd_scale_u", "threshold_max_u",
                   "threshold_fro_u", "threshold_scale_u", "grad_dtype", "nonfinite",
                   "taylor_rate", "evidence"]
        table_html = self.frame[columns].to_html(index=False, float_format=_g, na_rep="—",
                                                 escape=True, border=0)
        verdict = "passed" if self.passed else "NOT passed"
        return (f"<div><p><b>{html.escape(self.title())}</b> · {verdict}</p>{table_html}"
                f"<p>Errors in units of u of the row's dtype; autograd = the reference by "
                f"autograd in the same dtype.</p></div>")

    def with_charts(self, builder: Callable) -> Report:
        """This report, drawing its chart with ``builder`` (frame → Altair chart)."""
        return dataclasses.replace(self, chart_builder=builder)

    def chart(self):
        """Candidate vs autograd vs threshold per dtype and input (log scale)."""
        if self.chart_builder is None:
            raise GradlabError("this report has no chart builder: gradlab.verify's reports "
                               "draw (or use gradlab.charts.verify.verify_chart(report.frame))")
        return self.chart_builder(self.frame)

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


def _g(x) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "—"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _rate(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f}"


def _count(x: int) -> str:
    return "—" if x < 0 else str(x)


def table(header: list[str], body: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *body]]
