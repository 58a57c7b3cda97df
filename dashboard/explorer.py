r"""The Explorer's pure part: its view config, the derivation, the metrics table.

One case, seen four ways: the derivation (LaTeX), the inputs and R and J for
small sizes, the analytic and autograd gradients with |Δ| per element, and a
table of every method's errors and verdict in all four dtypes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pandas as pd
import torch

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.problems.seed.case import PLACEMENTS, Case
from gradlab.problems.seed.check import Check
from gradlab.problems.seed.gradients import (
    ANALYTIC,
    METHODS,
    VARIANTS,
    denominator,
    forward,
    kron_J,
    kron_R,
)

#: Sizes up to this many entries of W show the inputs, R and J.
SMALL_ENTRIES = 64
NO_VARIANT = "none"
#: The Explorer's kron budget: J past it is skipped (with the reason shown), so
#: a widget change re-renders within a second. In half precision on the CPU,
#: kron with a 256 MiB J (m = n = 512) alone takes 0.3–1.3 s.
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
                               f"(got {self.variant!r})")
        if self.method not in ANALYTIC:
            raise GradlabError(f"method must be one of {', '.join(ANALYTIC)} "
                               f"(got {self.method!r})")
        if not isinstance(self.preset, bool):
            raise GradlabError(f"preset must be on or off (got {self.preset!r})")
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
    """(what, LaTeX) steps from the forward pass to the O(mn) gradient."""
    if placement not in PLACEMENTS:
        raise GradlabError(f"placement must be one of {', '.join(PLACEMENTS)} "
                           f"(got {placement!r})")
    if placement == "inside":
        u = r"u = \sqrt{\tfrac{1}{m}\textstyle\sum_i a_i^2 + \varepsilon}"
        D = r"D = m\,u^2"
    else:
        u = (r"u = r + \varepsilon,\quad "
             r"r = \sqrt{\tfrac{1}{m}\textstyle\sum_i a_i^2}")
        D = r"D = m\,r\,u"
    return [
        ("Forward pass, per token x",
         rf"a = W x \in \mathbb{{R}}^m,\qquad {u},\qquad v = g \odot \frac{{a}}{{u}} + b,"
         r"\qquad L = \sum_i v_i^2"),
        ("Through the normalisation: R = ∂(a/u)/∂a",
         rf"\frac{{\partial L}}{{\partial v}} = d = 2v,\qquad "
         rf"R = \frac{{1}}{{u}}\Bigl(I - \frac{{a a^\top}}{{D}}\Bigr),\quad {D}"),
        ("The Kronecker J = ∂a/∂vec(W): row i holds xᵀ in block i",
         r"J = I_m \otimes x^\top \in \mathbb{R}^{m \times mn},\qquad "
         r"J_{i,(k,j)} = \delta_{ik}\, x_j"),
        ("The seed's gradient: row · J, read back as m × n",
         r"\mathrm{row} = (d \odot g)^\top R \in \mathbb{R}^{1\times m},\qquad "
         r"\frac{\partial L}{\partial W} = \mathrm{reshape}_{m\times n}"
         r"\bigl(\mathrm{row}\, J\bigr)"),
        ("Structured, O(mn): R and J never formed",
         r"\mathrm{row} = \frac{1}{u}\Bigl(d\odot g - a\,\frac{a^\top (d\odot g)}{D}\Bigr),"
         r"\qquad \frac{\partial L}{\partial W} = \mathrm{row}^\top x^\top"
         r"\quad(\text{summed over tokens})"),
    ]


def first_token_R(check: Check) -> torch.Tensor:
    """R of the first token, in the case dtype (what the kron method forms)."""
    inp = check.inputs
    placement = check.case.eps_placement
    with torch.no_grad():
        fw = forward(inp.W, inp.X, inp.g, inp.b, inp.eps, placement)
        D = denominator(fw.a, fw.u, inp.eps, placement, check.variant)
        return kron_R(fw.a[0], fw.u[0], D[0], check.variant)


def shown_method(check: Check, wanted: str) -> str:
    """The analytic method to draw: ``wanted`` if it ran, else the other one."""
    if wanted in check.runs:
        return wanted
    return next(m for m in ANALYTIC if m in check.runs)


def abs_delta(check: Check, method: str) -> torch.Tensor:
    """|method − autograd| per element of dL/dW, in float64."""
    a = check.runs[method].grads["W"].to(torch.float64)
    b = check.runs["autograd"].grads["W"].to(torch.float64)
    return (a - b).abs()


def _num(x) -> float:
    return math.nan if x is None else float(x)


def metrics_table(checks: dict[str, Check]) -> pd.DataFrame:
    """One row per (dtype, method): max |Δ| against autograd, the errors of dL/dW
    against the reference (absolute, relative, in units of u, normwise), non-finite
    entries, and the verdict with its evidence."""
    rows = []
    for dtype in [d for d in DTYPE_NAMES if d in checks] + [d for d in checks
                                                            if d not in DTYPE_NAMES]:
        check = checks[dtype]
        for method in METHODS:
            run = check.runs.get(method)
            verdict = check.verdicts.get(method)
            if run is None:
                rows.append({"dtype": dtype, "method": method, "max |Δ| vs autograd": math.nan,
                             "abs err": math.nan, "rel err": math.nan, "err / u": math.nan,
                             "normwise / u": math.nan, "non-finite": 0, "verdict": "skipped",
                             "evidence": check.skipped.get(method, "")})
                continue
            e = check.errors[method]["W"]
            rows.append({
                "dtype": dtype, "method": method,
                "max |Δ| vs autograd": _num(check.max_abs_diff.get(method)),
                "abs err": e.abs_err, "rel err": e.rel_err, "err / u": e.err_u,
                "normwise / u": e.fro_u, "non-finite": e.nonfinite,
                "verdict": verdict.status if verdict else "baseline",
                "evidence": verdict.message if verdict else
                f"autograd against the {check.reference.precision} reference",
            })
    return pd.DataFrame(rows)


def all_notes(checks: dict[str, Check]) -> list[str]:
    """Every dtype's notes: ε rounds to 0, u underflows, non-finite gradients."""
    return [f"{dtype}: {note}" for dtype, check in checks.items() for note in check.notes]


def all_skipped(checks: dict[str, Check]) -> list[str]:
    """Why a method did not run, per dtype (kron over its budget)."""
    return [f"{dtype}: {why}" for dtype, check in checks.items() for why in check.skipped.values()]


def first_token_J(check: Check) -> torch.Tensor:
    """J = kron(I_m, xᵀ) of the first token (as the variant lays it out)."""
    return kron_J(check.inputs.X[0], check.case.m, check.variant)
