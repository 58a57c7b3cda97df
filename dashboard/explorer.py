r"""The Explorer's pure part: its view config, the derivation, the case summary
the page caches, and the metrics tables.

One case, seen four ways: the derivation (LaTeX), the inputs and R and J for
small sizes, the analytic and autograd gradients with |Δ| per element, and a
table of every method's errors and verdict in all four dtypes.

The page caches a ``CaseSummary`` per (case, variant, limits), not the whole
``Check``: a Check holds the inputs, every method's m×n gradients and the
reference (about 24 MiB at m = n = 1024 in float64, 96 MiB at 2048), while a
summary holds the numbers and the pooled (≤ 32 × 32) pictures the page draws.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
import torch

from dashboard.formatting import number_text, size_text
from dashboard.tables import html_table
from gradlab.charts.heatmaps import Pooled, abs_bound, pooled
from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.core.verdict import Error, Verdict
from gradlab.problems.seed.case import PLACEMENTS, Case
from gradlab.problems.seed.check import (
    KRON_WALK,
    TOKEN_ROUNDINGS,
    Check,
    method_kappa,
    run_check,
)
from gradlab.problems.seed.cost import check_seconds
from gradlab.problems.seed.gradients import (
    ANALYTIC,
    METHODS,
    VARIANTS,
    denominator,
    forward,
    kron_J,
    kron_R,
)
from gradlab.problems.seed.inputs import Inputs, case_draws, case_inputs

#: Sizes up to this many entries of W show the inputs, R and J.
SMALL_ENTRIES = 64
NO_VARIANT = "none"
#: The ε and activation-scale menus (a value from the URL joins them).
EPS_CHOICES = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
SCALE_CHOICES = (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
#: The Explorer's kron budget: J past it is skipped (with the reason shown), so
#: a widget change re-renders within a second (docs/benchmarks.md, "Figures behind
#: the code": kron's time at larger J).
EXPLORER_KRON_BYTES = 64 * MiB


def explorer_limits(limits: Limits) -> Limits:
    """``limits`` with the kron budget capped at EXPLORER_KRON_BYTES."""
    return dataclasses.replace(limits, kron_bytes=min(limits.kron_bytes, EXPLORER_KRON_BYTES))


@dataclass(frozen=True)
class ExplorerView:
    """Every widget of the Explorer; the default is the seed notebook in float32.

    ``preset`` on fixes m=2, n=3, batch=1, scale=1, seed=0 to the notebook's
    own draws; ``method`` is the analytic method drawn beside autograd.
    """

    #: Typed into text boxes and parsed by gradlab (a browser number box reads 1e23 as 1).
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("m", "n", "batch", "seed")
    #: Field → its widget's label: the page's one table for naming a field in an error.
    WIDGETS: ClassVar[dict[str, str]] = {"m": "m (outputs)", "n": "n (inputs)",
                                         "batch": "batch (tokens)", "seed": "seed"}

    preset: bool = True
    m: int = 8
    n: int = 8
    batch: int = 1
    dtype: str = "float32"
    eps: float = 0.0
    placement: str = "inside"
    scale: float = 1.0
    seed: int = 0
    variant: str = NO_VARIANT
    method: str = "kron"

    def __post_init__(self):
        if self.variant != NO_VARIANT and self.variant not in VARIANTS:
            raise GradlabError(f"variant must be one of {NO_VARIANT}, {', '.join(VARIANTS)} "
                               f"(got {self.variant!r})", "variant")
        if self.method not in ANALYTIC:
            raise GradlabError(f"method must be one of {', '.join(ANALYTIC)} "
                               f"(got {self.method!r})", "method")
        if not isinstance(self.preset, bool):
            raise GradlabError(f"preset must be on or off (got {self.preset!r})", "preset")
        Case(m=self.m, n=self.n, batch=self.batch, dtype=self.dtype, eps=self.eps,
             eps_placement=self.placement, scale=self.scale, seed=self.seed)

    def case(self, dtype: str | None = None) -> Case:
        dtype = dtype or self.dtype
        if self.preset:
            return Case.notebook(dtype=dtype, eps=self.eps, eps_placement=self.placement)
        return Case(m=self.m, n=self.n, batch=self.batch, dtype=dtype, eps=self.eps,
                    eps_placement=self.placement, scale=self.scale, seed=self.seed)

    @property
    def variant_name(self) -> str | None:
        return None if self.variant == NO_VARIANT else self.variant


def derivation(placement: str) -> list[tuple[str, str]]:
    """(what, LaTeX) steps from the forward pass to the O(mn) gradient. Each step's
    equations are stacked (``gathered``), one per line, so the widest line fits
    the page's narrowest column (about 560 px at 1024 px with the sidebar open)."""
    if placement not in PLACEMENTS:
        raise GradlabError(f"placement must be one of {', '.join(PLACEMENTS)} "
                           f"(got {placement!r})", "placement")
    if placement == "inside":
        u = r"u = \sqrt{\tfrac{1}{m}\textstyle\sum_i a_i^2 + \varepsilon}"
        D = r"D = m\,u^2"
    else:
        u = (r"u = r + \varepsilon,\quad "
             r"r = \sqrt{\tfrac{1}{m}\textstyle\sum_i a_i^2}")
        D = r"D = m\,r\,u"

    def lines(*parts: str) -> str:
        return r"\begin{gathered}" + r" \\ ".join(parts) + r"\end{gathered}"

    return [
        ("Forward pass, per token x",
         lines(rf"a = W x \in \mathbb{{R}}^m,\qquad {u}",
               r"v = g \odot \frac{a}{u} + b,\qquad L = \sum_i v_i^2")),
        ("Through the normalisation: R = ∂(a/u)/∂a",
         lines(r"\frac{\partial L}{\partial v} = d = 2v",
               rf"R = \frac{{1}}{{u}}\Bigl(I - \frac{{a a^\top}}{{D}}\Bigr),\quad {D}")),
        ("The Kronecker J = ∂a/∂vec(W): row i holds xᵀ in block i",
         lines(r"J = I_m \otimes x^\top \in \mathbb{R}^{m \times mn}",
               r"J_{i,(k,j)} = \delta_{ik}\, x_j")),
        ("The seed's gradient: row · J, read back as m × n",
         lines(r"\mathrm{row} = (d \odot g)^\top R \in \mathbb{R}^{1\times m}",
               r"\frac{\partial L}{\partial W} = \mathrm{reshape}_{m\times n}"
               r"\bigl(\mathrm{row}\, J\bigr)")),
        ("Structured, O(mn): R and J never formed",
         lines(r"\mathrm{row} = \frac{1}{u}\Bigl(d\odot g - a\,\frac{a^\top (d\odot g)}{D}\Bigr)",
               r"\frac{\partial L}{\partial W} = \mathrm{row}^\top x^\top"
               r"\quad(\text{summed over tokens})")),
    ]


def first_token_R(check: Check) -> torch.Tensor:
    """R of the first token, in the case dtype (what the kron method forms)."""
    inp = check.inputs
    placement = check.case.eps_placement
    with torch.no_grad():
        fw = forward(inp.W, inp.X, inp.g, inp.b, inp.eps, placement)
        D = denominator(fw.a, fw.u, inp.eps, placement, check.variant)
        return kron_R(fw.a[0], fw.u[0], D[0], check.variant)


def first_token_J(check: Check) -> torch.Tensor:
    """J = kron(I_m, xᵀ) of the first token (as the variant lays it out)."""
    return kron_J(check.inputs.X[0], check.case.m, check.variant)


def abs_delta(check: Check, method: str) -> torch.Tensor:
    """|method − autograd| per element of dL/dW, in float64."""
    a = check.runs[method].grads["W"].to(torch.float64)
    b = check.runs["autograd"].grads["W"].to(torch.float64)
    return (a - b).abs()


@dataclass(frozen=True)
class Picture:
    """One analytic method beside autograd, as the page draws it: both gradients
    pooled, on one colour bound, and |Δ| pooled, with its exact zeros counted."""

    grad: Pooled
    autograd: Pooled
    bound: float
    delta: Pooled
    zeros: int
    entries: int


@dataclass(frozen=True)
class CaseSummary:
    """What the Explorer shows of one check: its numbers, and pictures pooled to at
    most 32 × 32 cells (plus the inputs, R and J of a small case). Small enough to
    cache hundreds of."""

    case: Case
    variant: str | None
    ran: dict[str, str]
    errors: dict[str, Error]
    verdicts: dict[str, Verdict]
    max_abs_diff: dict[str, float]
    skipped: dict[str, str]
    notes: tuple[str, ...]
    kappa: float
    kappa_fro: float
    kappa_tokens: float
    kappa_tokens_fro: float
    bug_effect: dict[str, float] | None
    ref_max_abs: float
    reference_precision: str
    pictures: dict[str, Picture]
    small: dict[str, Pooled] | None


def summarize(check: Check) -> CaseSummary:
    """The summary of ``check`` (its m×n tensors are not kept)."""
    auto = check.runs["autograd"].grads["W"]
    pictures = {}
    for method in ANALYTIC:
        if method not in check.runs:
            continue
        grad = check.runs[method].grads["W"]
        delta = abs_delta(check, method)
        pictures[method] = Picture(pooled(grad), pooled(auto), abs_bound(grad, auto),
                                   pooled(delta), int((delta == 0).sum()), delta.numel())
    small = None
    if check.case.m * check.case.n <= SMALL_ENTRIES:
        inp = check.inputs
        small = {"W": pooled(inp.W), "x": pooled(inp.X), "g": pooled(inp.g),
                 "b": pooled(inp.b), "R": pooled(first_token_R(check)),
                 "J": pooled(first_token_J(check))}
    return CaseSummary(
        case=check.case, variant=check.variant,
        ran={name: run.dtype for name, run in check.runs.items()},
        errors={name: per["W"] for name, per in check.errors.items()},
        verdicts=dict(check.verdicts), max_abs_diff=dict(check.max_abs_diff),
        skipped=dict(check.skipped), notes=tuple(check.notes), kappa=check.kappa,
        kappa_fro=check.kappa_fro, kappa_tokens=check.kappa_tokens,
        kappa_tokens_fro=check.kappa_tokens_fro, bug_effect=check.bug_effect,
        ref_max_abs=check.ref_max_abs, reference_precision=check.reference.precision,
        pictures=pictures, small=small)


def floor_caption(summary: CaseSummary) -> str:
    """How the verdicts' floors come out of the tolerance table for the shown dtype, per
    method, so the headline's floor can be checked by hand: (c + b·κ)·u, with kron's κ
    raised for its own length-m sum and structured's for the tokens' cancellation
    (``check.method_kappa``)."""
    case, info = summary.case, DTYPES[summary.case.dtype]
    kappa = {"max": summary.kappa, "fro": summary.kappa_fro}
    tokens = {"max": summary.kappa_tokens, "fro": summary.kappa_tokens_fro}
    parts = []
    for method in (m for m in ANALYTIC if m in summary.verdicts):
        k = {n: method_kappa(method, kappa[n], case.m, case.dtype, tokens[n]) for n in kappa}
        floors = "; ".join(
            f"{name} {info.floor(n):g} + {info.bound(n):g} × {k[n]:.3g} = "
            f"{info.floor_in(n, k[n]):.3g} u" for n, name in (("fro", "normwise"),
                                                               ("max", "max-norm")))
        parts.append(f"{method}: {floors}")
    walk = (f" kron's κ is the case's times 1 + {KRON_WALK:g}·√m·u_acc/u = "
            f"{method_kappa('kron', 1.0, case.m, case.dtype):.3g} (its row is a length-m "
            "sum in the accumulation dtype)." if "kron" in summary.verdicts else "")
    cancel = (f" structured's κ adds {TOKEN_ROUNDINGS:g}·(K − 1), the roundings of its "
              f"per-token chain where the tokens' terms cancel (K = {summary.kappa_tokens:.3g} "
              f"max-norm, {summary.kappa_tokens_fro:.3g} normwise)."
              if "structured" in summary.verdicts and max(tokens.values()) > 1 else "")
    return (f"The floors in {case.dtype}, c + b·κ in u (c and b from the tolerance table "
            f"for {case.dtype}; the case's κ = {summary.kappa:.3g} max-norm, "
            f"{summary.kappa_fro:.3g} normwise): " + " · ".join(parts) + "." + walk + cancel)


#: The page's work per dtype beside ``run_check``'s, in units of it: the summary's
#: pooled maps and tables take about as long as the check; and the page's own, its
#: charts and tables at any size (docs/benchmarks.md, "The time guard").
SUMMARY_FACTOR = 2.0
PAGE_SECONDS = 0.5


def page_seconds(view: ExplorerView, limits: Limits) -> float:
    """The estimated seconds of the page: its four checks, their summaries, the rest."""
    return PAGE_SECONDS + SUMMARY_FACTOR * sum(check_seconds(view.case(d), limits)
                                               for d in DTYPE_NAMES)


class SharedDraws:
    """The float64 draws of the page's case, drawn by the first of its four dtypes'
    checks that runs (a cached dtype draws nothing) and rounded by each: one draw
    where each check drew its own (about 22 ms at m = n = 1024)."""

    def __init__(self):
        self.key, self.base = None, None

    def inputs(self, case: Case) -> Inputs:
        key = (case.m, case.n, case.batch, case.seed, case.scale, case.preset)
        if self.key != key:
            self.key, self.base = key, case_draws(case)
        return case_inputs(case, base=self.base)


def case_summary(case: Case, variant: str | None, limits: Limits,
                 _draws: SharedDraws | None = None) -> CaseSummary:
    """``run_check`` on one case, of dL/dW alone (all the page shows), summarised
    (what the page caches). ``_draws``: the page's draws, shared by its dtypes (not
    part of the cache key: the case names them)."""
    case.check_limits(limits)  # before any draw
    inputs = None if _draws is None else _draws.inputs(case)
    return summarize(run_check(case, variant=variant, limits=limits, params=("W",),
                               inputs=inputs))


def shown_method(summary: CaseSummary, wanted: str) -> str:
    """The analytic method to draw: ``wanted`` if it ran, else the other one."""
    if wanted in summary.pictures:
        return wanted
    return next(m for m in ANALYTIC if m in summary.pictures)


def _ordered(summaries: dict) -> list[str]:
    return ([d for d in DTYPE_NAMES if d in summaries]
            + [d for d in summaries if d not in DTYPE_NAMES])


def _num(x) -> float:
    return math.nan if x is None else float(x) + 0.0  # + 0.0: no "-0"


def metrics_table(summaries: dict[str, CaseSummary]) -> pd.DataFrame:
    """One row per (dtype, method): max |Δ| against autograd (NaN for autograd
    itself, shown as "—"), the errors of dL/dW against the reference (absolute,
    relative, in units of u, normwise in u), non-finite entries, and the verdict
    with its evidence."""
    rows = []
    for dtype in _ordered(summaries):
        summary = summaries[dtype]
        for method in METHODS:
            e = summary.errors.get(method)
            verdict = summary.verdicts.get(method)
            if e is None:
                rows.append({"dtype": dtype, "method": method, "max |Δ| vs autograd": math.nan,
                             "abs err": math.nan, "rel err": math.nan, "err / u": math.nan,
                             "normwise / u": math.nan, "non-finite": pd.NA, "verdict": "skipped",
                             "evidence": summary.skipped.get(method, "")})
                continue
            rows.append({
                "dtype": dtype, "method": method,
                "max |Δ| vs autograd": _num(summary.max_abs_diff.get(method)),
                "abs err": _num(e.abs_err), "rel err": _num(e.rel_err),
                "err / u": _num(e.err_u), "normwise / u": _num(e.fro_u),
                "non-finite": e.nonfinite,
                "verdict": verdict.status if verdict else "yardstick",
                "evidence": verdict.message if verdict else
                f"autograd against the {summary.reference_precision} reference",
            })
    frame = pd.DataFrame(rows)
    frame["non-finite"] = frame["non-finite"].astype("Int64")  # missing where not run
    return frame


def styled(numbers: pd.DataFrame) -> pd.DataFrame:
    """The table as the page shows it, as text: numbers as the CLI prints them and "—"
    wherever there is none (autograd's Δ against itself, a method that did not run).
    Text, because Streamlit draws a missing number as "None" whatever its format."""
    shown = numbers.astype(object)
    for column in (c for c in numbers.columns if c in NUMBER_COLUMNS or c == "non-finite"):
        shown[column] = [number_text(x) if column in NUMBER_COLUMNS
                         else ("—" if pd.isna(x) else str(int(x))) for x in numbers[column]]
    return shown


#: The metrics table's number columns (printed by formatting.number_text, as the CLI
#: prints them).
NUMBER_COLUMNS = ("max |Δ| vs autograd", "abs err", "rel err", "err / u", "normwise / u")
#: The metrics table's headers' tooltips.
METRIC_HELPS = {
    "max |Δ| vs autograd": "max |method − autograd| over dL/dW (— for autograd itself)",
    "abs err": "max |method − reference|",
    "rel err": "abs err ÷ max |reference|",
    "err / u": "rel err in units of the dtype's u",
    "normwise / u": "‖method − reference‖_F ÷ ‖reference‖_F in units of u",
    "non-finite": "the gradient's NaN and ±inf entries (— where the method did not run)",
}


def metrics_html(numbers: pd.DataFrame) -> str:
    """The metrics table (``metrics_table`` without its verdict and evidence) as HTML
    that fits the main column at 1024 px: ``styled`` text, numbers right-aligned."""
    return html_table(styled(numbers), numbers=(*NUMBER_COLUMNS, "non-finite"),
                      helps=METRIC_HELPS, name="metrics")


def all_notes(summaries: dict[str, CaseSummary]) -> list[str]:
    """Every dtype's notes: ε rounds to 0, u underflows, non-finite gradients."""
    return [f"{dtype}: {note}" for dtype in _ordered(summaries)
            for note in summaries[dtype].notes]


def skipped_text(summaries: dict[str, CaseSummary], kron_bytes: int) -> str:
    """One sentence per skipped method, not one per dtype: kron's J is over the
    ``kron_bytes`` budget in these dtypes, with what each would need ("" if
    nothing was skipped)."""
    sentences = []
    for method in METHODS:
        dtypes = [d for d in _ordered(summaries) if method in summaries[d].skipped]
        if not dtypes:
            continue
        if method == "kron":
            case = summaries[dtypes[0]].case
            needs = ", ".join(f"{d} {size_text(summaries[d].case.kron_bytes())}"
                              for d in dtypes)
            sentences.append(f"kron did not run in {', '.join(dtypes)}: J = kron(I_m, xᵀ) "
                             f"for m={case.m}, n={case.n} would need {needs}, over the "
                             f"kron budget of {size_text(kron_bytes)}")
        else:
            sentences.append(f"{method} did not run in {', '.join(dtypes)}: "
                             + summaries[dtypes[0]].skipped[method])
    return ". ".join(sentences) + ("." if sentences else "")

