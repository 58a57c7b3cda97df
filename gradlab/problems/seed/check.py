"""One whole check: every method on one case, against the reference."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.core.verdict import Error, Verdict, bounds, make_error, verdict
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.gradients import ANALYTIC, METHODS, MethodRun, check_variant, run_method
from gradlab.problems.seed.inputs import Inputs, case_inputs
from gradlab.problems.seed.metrics import error, floor_scale, weight_metrics
from gradlab.problems.seed.reference import Reference, reference_grads


@dataclass(frozen=True)
class Check:
    case: Case
    variant: str | None
    inputs: Inputs
    reference: Reference
    runs: dict[str, MethodRun]
    skipped: dict[str, str]
    errors: dict[str, dict[str, Error]]
    max_abs_diff: dict[str, float]
    residual: dict[str, float | None]
    verdicts: dict[str, Verdict]
    bug_effect: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def ref_max_abs(self) -> float:
        return self.reference.max_abs("W")

    @property
    def kappa(self) -> float:
        """The cancellation condition κ = term scale / max|ref| (see reference.term_scale)."""
        ref_max = self.ref_max_abs
        return self.reference.term_scale / ref_max if ref_max > 0 else math.inf

    @property
    def bounds(self) -> tuple[float, float]:
        return bounds(self.case.n, self.case.dtype)

    def to_row(self) -> dict:
        """One flat row: the case, then per-method columns, then the context.

        Methods that did not run (kron over its budget) have NaN numbers, an
        empty status and the reason in ``{method}_skipped``.
        """
        row = self.case.to_row()
        row["variant"] = self.variant or "none"
        sqrt_n_u, n_u = self.bounds
        row.update(ref_max_abs=self.ref_max_abs, kappa=self.kappa, bound_sqrt_n=sqrt_n_u,
                   bound_n=n_u, bug_effect=math.nan if self.bug_effect is None
                   else self.bug_effect, reference_precision=self.reference.precision)
        for name in METHODS:
            run = self.runs.get(name)
            e = self.errors[name]["W"] if run else None
            v = self.verdicts.get(name)
            row[f"{name}_ran_dtype"] = run.dtype if run else ""
            if name != "autograd":
                row[f"{name}_max_abs_diff"] = self.max_abs_diff.get(name, math.nan)
            row[f"{name}_abs_err"] = e.abs_err if e else math.nan
            row[f"{name}_rel_err"] = e.rel_err if e else math.nan
            row[f"{name}_err_u"] = e.err_u if e else math.nan
            row[f"{name}_nonfinite"] = e.nonfinite if e else -1
            row[f"{name}_seconds"] = run.seconds if run else math.nan
            res = self.residual.get(name)
            row[f"{name}_residual"] = math.nan if res is None else res
            if name != "autograd":
                row[f"{name}_status"] = v.status if v else "skipped"
                row[f"{name}_threshold"] = v.threshold if v else math.nan
                row[f"{name}_verdict"] = v.message if v else self.skipped.get(name, "")
        row["notes"] = "; ".join(self.notes)
        return row


def kron_refusal(case: Case, limits: Limits) -> str | None:
    """Why kron cannot run on this case, or None."""
    need = case.kron_bytes()
    if need <= limits.kron_bytes:
        return None
    return (f"kron: J = kron(I_m, xᵀ) would need {need / MiB:,.1f} MiB for m={case.m}, "
            f"n={case.n} in {case.dtype}, over the kron budget of "
            f"{limits.kron_bytes / MiB:,.1f} MiB")


def _notes(case: Case, inputs: Inputs, reference: Reference,
           runs: dict[str, MethodRun], errors) -> list[str]:
    notes = []
    if case.eps > 0 and float(inputs.eps) == 0:
        notes.append(f"ε = {case.eps:g} rounds to 0 in {case.dtype}")
    zero = int((runs["autograd"].u == 0).sum())
    if zero:
        notes.append(f"u underflows to 0 in {case.dtype} for {zero} of {case.batch} tokens")
    if not math.isfinite(reference.max_abs("W")):
        notes.append("the exact gradient is not finite: u = 0 (a = 0 with ε = 0)")
    for name in runs:
        bad = errors[name]["W"].nonfinite
        if bad:
            notes.append(f"{name} gives {bad} non-finite entries of dL/dW in {case.dtype}")
    return notes


def run_check(case: Case, methods=METHODS, variant: str | None = None,
              limits: Limits = Limits(), kron_over_budget: str = "skip",
              reference: Reference | None = None, device: str = "cpu",
              inputs: Inputs | None = None) -> Check:
    """Run ``methods`` (autograd always runs: it is the baseline) on ``case``.

    ``variant`` swaps the analytic methods' derivation for a bug-zoo mistake.
    ``kron_over_budget``: ``skip`` records why kron did not run; ``raise``
    raises GradlabError. A sweep passes ``reference`` to share one among points.
    ``device``: where the methods run ("cpu" or "cuda"); the reference is
    always computed on the CPU. ``inputs``: the case's inputs, already drawn
    and rounded (a sweep draws once per sizes and seed).
    """
    check_variant(variant)
    case.check_limits(limits)
    for name in methods:
        if name not in METHODS:
            raise GradlabError(f"method must be one of {', '.join(METHODS)} (got {name!r})")
    if inputs is None:
        inputs = case_inputs(case, device)
    if reference is None:
        reference = reference_grads(inputs, case.eps_placement)
    skipped: dict[str, str] = {}
    runs: dict[str, MethodRun] = {}
    for name in ("autograd",) + tuple(m for m in METHODS if m in methods and m != "autograd"):
        why = kron_refusal(case, limits) if name == "kron" else None
        if why and kron_over_budget == "raise":
            raise GradlabError(why)
        if why:
            skipped[name] = why
            continue
        runs[name] = run_method(name, inputs, case.eps_placement,
                                variant if name in ANALYTIC else None)
    weights = weight_metrics(reference, inputs.W, {name: run.grads["W"] for name, run in
                                                   runs.items()}, residual=case.eps == 0)
    ref_max = reference.max_abs("W")
    errors = {name: {p: make_error(weights.abs_err[name], ref_max, grad, case.dtype) if p == "W"
                     else error(reference, p, grad, case.dtype)
                     for p, grad in run.grads.items()}
              for name, run in runs.items()}
    bug_effect = None
    if variant is not None:
        wrong = reference_grads(inputs, case.eps_placement, variant)
        bug_effect = reference.distance(wrong) / ref_max if ref_max > 0 else math.nan
    kappa = reference.term_scale / ref_max if ref_max > 0 else math.inf
    scale = floor_scale(case.m, kappa, case.dtype)
    verdicts = {name: verdict(case.dtype, errors[name]["W"], errors["autograd"]["W"],
                              math.isfinite(ref_max), bug_effect, scale)
                for name in runs if name != "autograd"}
    notes = _notes(case, inputs, reference, runs, errors)
    return Check(case, variant, inputs, reference, runs, skipped, errors, weights.max_abs_diff,
                 weights.residual, verdicts, bug_effect, notes)
