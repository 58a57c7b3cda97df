"""One whole check: every method on one case, against the reference."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from gradlab.core.dtypes import dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.core.numbers import ratio_or_nan
from gradlab.core.verdict import NORMS, Error, Verdict, bounds, degenerate, verdict
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.gradients import (
    ANALYTIC,
    METHODS,
    PARAMS,
    MethodRun,
    check_params,
    check_variant,
    run_method,
)
from gradlab.problems.seed.inputs import Inputs, case_inputs
from gradlab.problems.seed.metrics import error, weight_metrics
from gradlab.problems.seed.reference import Reference, reference_grads

__all__ = [
    "case_reference", "Check", "check_methods", "forward_overflow", "kron_refusal", "KRON_WALK",
    "method_kappa", "method_verdicts", "mistake_effect", "run_check", "run_methods",
    "TOKEN_ROUNDINGS"
]


#: The status of a method left out of the ones asked for (``{method}_status``).
NOT_ASKED = "not-asked"


@dataclass(frozen=True)
class Check:
    """Every method's gradients on one case, their errors against the reference in
    both norms, and each analytic method's verdict. ``bug_effect`` is a bug-zoo
    variant's exact effect on dL/dW per norm (relative), None for the correct
    derivation. ``u_underflow`` counts tokens whose u is 0 in the dtype."""

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
    bug_effect: dict[str, float] | None
    notes: list[str] = field(default_factory=list)
    u_underflow: int = 0

    @property
    def ref_max_abs(self) -> float:
        return self.reference.max_abs("W")

    @property
    def kappa(self) -> float:
        """κ in the max-norm: the terms that cancel into dL/dW over max|dL/dW|
        (see reference.term_scale)."""
        return self.reference.kappa("max")

    @property
    def kappa_fro(self) -> float:
        """κ in the Frobenius norm."""
        return self.reference.kappa("fro")

    @property
    def kappa_tokens(self) -> float:
        """K in the max-norm: how much the tokens' terms cancel in dL/dW
        (``Reference.token_condition``; 1 for one token)."""
        return self.reference.token_condition("max")

    @property
    def kappa_tokens_fro(self) -> float:
        """K in the Frobenius norm."""
        return self.reference.token_condition("fro")

    @property
    def bounds(self) -> tuple[float, float]:
        return bounds(self.case.n, self.case.dtype)

    @property
    def passed(self) -> bool:
        """Every analytic method that ran passed (``pass``: not fail, too-coarse or
        degenerate)."""
        return all(v.passed for v in self.verdicts.values())

    def to_row(self) -> dict:
        """One flat row: the case, then per-method columns, then the context.

        Methods that did not run have NaN numbers and say why: status ``skipped``
        with the reason as the verdict (kron over its budget), or ``not-asked`` (a
        method left out of the ones asked for).
        """
        row = self.case.to_row()
        row["variant"] = self.variant or "none"
        sqrt_n_u, n_u = self.bounds
        effect = self.bug_effect or {}
        row.update(ref_max_abs=self.ref_max_abs, ref_fro=self.reference.fro("W"),
                   kappa=self.kappa, kappa_fro=self.kappa_fro, kappa_tokens=self.kappa_tokens,
                   kappa_tokens_fro=self.kappa_tokens_fro, bound_sqrt_n=sqrt_n_u,
                   bound_n=n_u, bug_effect=effect.get("max", math.nan),
                   bug_effect_fro=effect.get("fro", math.nan),
                   reference_precision=self.reference.precision)
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
            row[f"{name}_fro_err"] = e.fro_err if e else math.nan
            row[f"{name}_fro_u"] = e.fro_u if e else math.nan
            row[f"{name}_nonfinite"] = e.nonfinite if e else -1
            row[f"{name}_seconds"] = run.seconds if run else math.nan
            res = self.residual.get(name)
            row[f"{name}_residual"] = math.nan if res is None else res
            if name != "autograd":
                row[f"{name}_status"] = v.status if v else (
                    "skipped" if name in self.skipped else NOT_ASKED)
                row[f"{name}_threshold"] = v.threshold if v else math.nan
                row[f"{name}_threshold_fro"] = v.threshold_in("fro") if v else math.nan
                row[f"{name}_sensitivity"] = v.sensitivity("fro") if v else math.nan
                row[f"{name}_sensitivity_max"] = v.sensitivity("max") if v else math.nan
                row[f"{name}_verdict"] = v.message if v else self.skipped.get(
                    name, "not among the methods asked for")
        row["u_underflow"] = self.u_underflow
        row["notes"] = "; ".join(self.notes)
        return row


def method_kappa(method: str, kappa: float, m: int, dtype: str, tokens: float = 1.0) -> float:
    """κ of ``method``'s own arithmetic, from the problem's κ:

    - kron: κ·(1 + 3√m·u_acc/u). Its row = (d⊙g) R is a length-m matrix-vector
      product summed in the accumulation dtype: where the diagonal term dominates
      (ε ≫ mean(a²)) every later addition rounds at the result's size, a random walk
      of √m·u_acc with a tail of about 3 (measured: 9 u at m = 64 in float32 where
      κ ≈ 1).
    - structured: κ + TOKEN_ROUNDINGS·(K − 1) where K > 1, K the tokens' own
      cancellation (``Reference.token_condition``: 1 for one token). Each of its terms
      row_t x_tᵀ carries every rounding of its per-token chain (u, 1/u, â, v, dg, c,
      the projection's product and difference, the products by 1/u and by x), where
      ``reference.term_scale`` counts about one unit of |row_t| per quantity; where
      the tokens' terms cancel, the rest is amplified by K (docs/verdict.md, "Where
      the tokens' terms cancel").
    - autograd: κ.
    """
    if method == "structured":
        return kappa + TOKEN_ROUNDINGS * (tokens - 1 if tokens > 1 else 0.0)
    if method != "kron":
        return kappa
    info = dtype_info(dtype)
    return kappa * (1 + KRON_WALK * math.sqrt(m) * info.u_acc / info.u)


#: The tail factor of kron's length-m random walk (see ``method_kappa``).
KRON_WALK = 3.0
#: structured's roundings per term that ``reference.term_scale`` leaves out, counted
#: where the tokens' terms cancel (see ``method_kappa``).
TOKEN_ROUNDINGS = 8.0


def kron_refusal(case: Case, limits: Limits) -> str | None:
    """Why kron cannot run on this case, or None."""
    need = case.kron_bytes()
    if need <= limits.kron_bytes:
        return None
    return (f"kron: J = kron(I_m, xᵀ) would need {need / MiB:,.1f} MiB for m={case.m}, "
            f"n={case.n} in {case.dtype}, over the kron budget of "
            f"{limits.kron_bytes / MiB:,.1f} MiB")


def _notes(case: Case, inputs: Inputs, reference: Reference, runs: dict[str, MethodRun],
           errors, underflow: int) -> list[str]:
    notes = []
    if case.eps > 0 and float(inputs.eps) == 0:
        notes.append(f"ε = {case.eps:g} rounds to 0 in {case.dtype}")
    if underflow:
        notes.append(f"u underflows to 0 in {case.dtype} for {underflow} of {case.batch} tokens")
    if not math.isfinite(reference.max_abs("W")):
        notes.append("the exact gradient is not finite: u = 0 (a = 0 with ε = 0)")
    elif not reference.resolved:
        why = (" (m = 1 with ε = 0: â = ±1 whatever W is, so L does not depend on W)"
               if case.m == 1 and float(inputs.eps) == 0 else "")
        notes.append(f"the exact dL/dW is 0 to the reference's precision{why}")
    for name, run in runs.items():
        if run.overflow:
            notes.append(run.overflow)
        bad = errors[name]["W"].nonfinite
        if bad:
            notes.append(f"{name} gives {bad} non-finite entries of dL/dW in {case.dtype}")
    return notes


def run_check(case: Case, methods=METHODS, variant: str | None = None,
              limits: Limits = Limits(), kron_over_budget: str = "skip",
              reference: Reference | None = None, device: str = "cpu",
              inputs: Inputs | None = None, params=PARAMS) -> Check:
    """Run ``methods`` (autograd always runs: it is the yardstick) on ``case``.

    ``variant`` swaps the analytic methods' derivation for a bug-zoo mistake.
    ``kron_over_budget``: ``skip`` records why kron did not run; ``raise``
    raises GradlabError. A sweep passes ``reference`` to share one among points.
    ``device``: where the methods run ("cpu" or "cuda"); the reference is
    always computed on the CPU. ``inputs``: the case's inputs, already drawn
    and rounded (a sweep draws once per sizes and seed). ``params``: the
    gradients checked besides dL/dW, on which every verdict is (a sweep's rows
    hold dL/dW alone, and asks for W alone: ∂L/∂x costs each method and the
    reference a pass over W).
    """
    check_variant(variant)
    params = check_params(params)
    case.check_limits(limits)
    check_methods(methods)
    inputs = case_inputs(case, device) if inputs is None else inputs
    reference = case_reference(case, inputs, params, reference)
    runs, skipped = run_methods(case, methods, variant, limits, kron_over_budget, inputs,
                                params)
    weights = weight_metrics(reference, inputs.W, {name: run.grads["W"] for name, run in
                                                   runs.items()}, residual=case.eps == 0)
    errors = {name: {p: weights.error(name, reference, grad, case.dtype) if p == "W"
                     else error(reference, p, grad, case.dtype)
                     for p, grad in run.grads.items()}
              for name, run in runs.items()}
    bug_effect = None if variant is None else mistake_effect(case, inputs, reference, variant)
    lost = forward_overflow(case, inputs, runs["autograd"].u)
    verdicts = method_verdicts(case, reference, runs, errors, bug_effect, lost)
    underflow = int((runs["autograd"].u == 0).sum())
    notes = ([lost] if lost else []) + _notes(case, inputs, reference, runs, errors, underflow)
    return Check(case, variant, inputs, reference, runs, skipped, errors, weights.max_abs_diff,
                 weights.residual, verdicts, bug_effect, notes, underflow)


def case_reference(case: Case, inputs: Inputs, params: tuple[str, ...],
                   reference: Reference | None) -> Reference:
    """The reference of ``case`` holding the gradients of ``params``: ``reference`` if
    given (a sweep's, shared), which must hold them, else computed here."""
    if reference is None:
        return reference_grads(inputs, case.eps_placement, params=params)
    if missing := [p for p in params if p != "W" and p not in reference.grads]:
        raise GradlabError(f"reference holds no gradient of {', '.join(missing)} "
                           f"(params asks for {', '.join(params)})", "reference")
    return reference


def check_methods(methods) -> None:
    for name in methods:
        if name not in METHODS:
            raise GradlabError(f"method must be one of {', '.join(METHODS)} (got {name!r})",
                               "method")


def run_methods(case: Case, methods, variant: str | None, limits: Limits,
                kron_over_budget: str, inputs: Inputs, params=PARAMS
                ) -> tuple[dict[str, MethodRun], dict[str, str]]:
    """(runs, skipped): autograd first, then each asked method in METHODS' order, each
    forming the gradients of ``params``; kron over its budget is skipped with its
    reason, or raises (``raise``)."""
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
                                variant if name in ANALYTIC else None, params)
    return runs, skipped


#: An effect within this many units of the reference's own roundoff is no effect: the
#: two references round apart by that much on the same mathematics (eps-missing at
#: ε = 0 differs by ~1 u of longdouble, under 0.001 of float64's u).
REFERENCE_RESOLUTION = 1000


def mistake_effect(case: Case, inputs: Inputs, reference: Reference, variant: str
                   ) -> dict[str, float]:
    """A bug-zoo mistake's exact effect on dL/dW: max|ΔT|/max|T| and ‖ΔT‖_F/‖T‖_F, 0
    where it is within the reference's resolution (the mistake changes nothing here)."""
    wrong = reference_grads(inputs, case.eps_placement, variant)
    peak, fro = reference.distance(wrong)
    effect = {"max": ratio_or_nan(peak, reference.max_abs("W")),
              "fro": ratio_or_nan(fro, reference.fro("W"))}
    if all(e <= REFERENCE_RESOLUTION * reference.u for e in effect.values()):
        return {"max": 0.0, "fro": 0.0}
    return effect


def method_verdicts(case: Case, reference: Reference, runs: dict[str, MethodRun],
                    errors: dict, bug_effect: dict | None, lost: str | None
                    ) -> dict[str, Verdict]:
    """Each method's verdict on dL/dW beside autograd's (degenerate where the forward
    or the method overflows), with each method's κ (``method_kappa``)."""
    finite = math.isfinite(reference.max_abs("W"))
    kappa = {norm: reference.kappa(norm) for norm in NORMS} if finite else None
    return {name: degenerate(case.dtype, lost or runs[name].overflow, bug_effect)
            if lost or runs[name].overflow else
            verdict(case.dtype, errors[name]["W"], errors["autograd"]["W"],
                    kappa=kappa and {norm: method_kappa(name, k, case.m, case.dtype,
                                                        reference.token_condition(norm))
                                     for norm, k in kappa.items()},
                    truth_finite=finite, truth_zero=finite and not reference.resolved,
                    bug_effect=bug_effect, envelope=True)
            for name in runs if name != "autograd"}


def forward_overflow(case: Case, inputs: Inputs, u: torch.Tensor) -> str | None:
    """Why the layer itself cannot be computed in the case's dtype, or None: a² (and
    so mean(a²) and u) overflows for some token, as it does in autograd's forward and
    in every method alike. The truth is finite there, but no method in this dtype
    computes it: autograd's u = ∞ silently zeroes that token's gradient."""
    lost = int((~torch.isfinite(u)).sum())
    if not lost:
        return None
    a_max = float((inputs.X.double() @ inputs.W.double().T).abs().max())
    return (f"{case.dtype} overflows in the layer's forward: a² exceeds "
            f"{torch.finfo(inputs.W.dtype).max:.4g} (|a| up to {a_max:.3g}), so u = ∞ for "
            f"{lost} of {case.batch} tokens, in autograd and every method alike")


