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
from gradlab.core.provenance import PROVENANCE_COLUMNS

__all__ = [
    "COLUMNS", "empty_row", "Report", "table", "WORST_COLUMNS", "worst_entries", "WORST_KEPT"
]

#: The frame's columns, in order. Errors, thresholds and sensitivities are relative
#: (max-norm: max|G − T|/max|T|; fro: ‖G − T‖_F/‖T‖_F; scale: |⟨G − T, T⟩|/‖T‖²,
#: along the truth), with ``_u`` in units of the dtype's u. ``baseline_*`` is the
#: composite reference's error in the same dtype; ``bug_effect_*`` a planted
#: mistake's exact effect (NaN otherwise). float64 has no scale check (its baseline
#: is carried over from float32 in the two norms; the Taylor test runs there).
COLUMNS = (
    "dtype", "input", "shape", "status", "evidence",
    "err_max", "err_max_u", "err_fro", "err_fro_u", "err_scale", "err_scale_u",
    "baseline_max", "baseline_max_u", "baseline_fro", "baseline_fro_u",
    "baseline_scale", "baseline_scale_u",
    "threshold_max", "threshold_max_u", "threshold_fro", "threshold_fro_u",
    "threshold_scale", "threshold_scale_u",
    "sensitivity_max", "sensitivity_fro", "sensitivity_scale",
    "bug_effect_max", "bug_effect_fro", "bug_effect_scale",
    "u", "grad_dtype", "output_dtype", "nonfinite", "baseline_nonfinite", "kinks",
    "reference_precision", "taylor_rate", "taylor_rates",
    "candidate", "reference", "seed", *PROVENANCE_COLUMNS,
)
_TEXT = {"dtype", "input", "shape", "status", "evidence", "grad_dtype", "output_dtype",
         "reference_precision", "taylor_rates", "candidate", "reference",
         *(c for c, col in PROVENANCE_COLUMNS.items() if col.kind == "str")}
_COUNTS = {"nonfinite", "baseline_nonfinite", "kinks", "seed", "threads"}


#: Entries with the largest |G − T| kept per (dtype, input), for ``Report.worst``.
WORST_KEPT = 100
#: ``Report.worst``'s columns.
WORST_COLUMNS = ("dtype", "input", "index", "candidate", "composite", "truth", "error_u",
                 "at_kink")


def worst_entries(grad: torch.Tensor, composite: torch.Tensor | None, truth: torch.Tensor,
                  peak: float, u: float, kinks=None) -> tuple[dict, ...]:
    """The WORST_KEPT entries with the largest |G − T|, largest first: the index, the
    candidate's, the composite's (NaN where there is none) and the truth's values,
    the error |G − T| in u of max|T|, and whether the entry sits at a kink."""
    g = grad.detach().to(torch.float64).reshape(-1)
    t = truth.detach().reshape(-1)
    d = (g - t).abs().nan_to_num(nan=math.inf)
    k = min(WORST_KEPT, d.numel())
    _, flat = torch.topk(d, k)
    b = None if composite is None else composite.detach().to(torch.float64).reshape(-1)
    mask = None if kinks is None else kinks.mask.reshape(-1)
    scale = peak * u if peak > 0 and math.isfinite(peak) else math.nan
    out = []
    for i in flat.tolist():
        index = tuple(int(j) for j in torch.unravel_index(torch.tensor(i), truth.shape))
        gi, ti = float(g[i]), float(t[i])
        out.append({"index": index, "candidate": gi, "truth": ti,
                    "composite": math.nan if b is None else float(b[i]),
                    "error_u": abs(gi - ti) / scale if scale == scale else math.nan,
                    "at_kink": bool(mask is not None and mask[i])})
    return tuple(out)


def empty_row() -> dict:
    """A row with every column: text empty, numbers NaN, counts -1."""
    return {c: "" if c in _TEXT else (-1 if c in _COUNTS else math.nan) for c in COLUMNS}


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
        index, the candidate's, the composite's and the truth's values, and the
        error in u of max|truth| (``WORST_COLUMNS``)."""
        from gradlab.core.errors import GradlabError

        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= WORST_KEPT:
            raise GradlabError(f"k must be an integer from 1 to {WORST_KEPT} (got {k!r})")
        for value, what, known in ((input, "input", [n for n, _ in self.inputs]),
                                   (dtype, "dtype", list(self.dtypes))):
            if value is not None and value not in known:
                raise GradlabError(f"{what} must be one of {', '.join(known)} (got {value!r})")
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
                  "composite/u", "composite nw/u", "composite sc/u", "threshold/u",
                  "threshold nw/u", "threshold sc/u", "grad in", "non-finite", "Taylor"]
        body = [[row["dtype"], row["input"], row["status"], _g(row["err_max_u"]),
                 _g(row["err_fro_u"]), _g(row["err_scale_u"]), _g(row["baseline_max_u"]),
                 _g(row["baseline_fro_u"]), _g(row["baseline_scale_u"]),
                 _g(row["threshold_max_u"]), _g(row["threshold_fro_u"]),
                 _g(row["threshold_scale_u"]), row["grad_dtype"] or "—",
                 _count(row["nonfinite"]), _rate(row["taylor_rate"])]
                for row in self.rows]
        lines += table(header, body)
        lines.append("")
        lines.append("errors are relative to the truth (max-norm: max|G − T|/max|T|; normwise: "
                     "‖G − T‖_F/‖T‖_F; scale, along the truth: |⟨G − T, T⟩|/‖T‖²), in units "
                     "of u of the row's dtype; composite = the reference in the same dtype")
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
                   "baseline_max_u", "baseline_fro_u", "baseline_scale_u", "threshold_max_u",
                   "threshold_fro_u", "threshold_scale_u", "grad_dtype", "nonfinite",
                   "taylor_rate", "evidence"]
        table_html = self.frame[columns].to_html(index=False, float_format=_g, na_rep="—",
                                                 escape=True, border=0)
        verdict = "passed" if self.passed else "NOT passed"
        return (f"<div><p><b>{html.escape(self.title())}</b> · {verdict}</p>{table_html}"
                f"<p>Errors in units of u of the row's dtype; composite = the reference in "
                f"the same dtype.</p></div>")

    def with_charts(self, builder: Callable) -> Report:
        """This report, drawing its chart with ``builder`` (frame → Altair chart)."""
        return dataclasses.replace(self, chart_builder=builder)

    def chart(self):
        """Candidate vs composite vs threshold per dtype and input (log scale)."""
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
        worst = [{"dtype": d, "input": n,
                  "entries": [{k: list(v) if k == "index" else json_number(v)
                               for k, v in e.items()} for e in entries[:10]]}
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
