r"""The verdict: bug or rounding, with the evidence. One engine for every problem.

The rule adapts FlashAttention's tests: a kernel's error against a
higher-precision truth must be within 2× the error of the same mathematics
done in plain ops in the same low dtype (*autograd*: the yardstick), which stands for
what rounding can do here. It is applied in two norms::

    max-norm   max|G − T| / max|T|       localised bugs: one entry, one row
    normwise   ‖G − T‖_F / ‖T‖_F         pattern bugs: a wrong scale, a missing
                                          term; rounding averages out, a bug does not

and in each norm N a candidate passes when

    err_N ≤ 2·err_N(autograd) + floor_N,     floor_N = (c_N + b_N·κ_N)·u

Where the errors carry it (``compare``: verify's gradients), a third check
looks *along the truth*:

    scale      |⟨G − T, T⟩| / ‖T‖²           a wrong scale of the whole gradient

Rounding errors point every way and mostly cancel in that projection (of the
order of the normwise error over √entries), while a gradient scaled by
(1 + δ) shows δ in full; so it resolves a scale bug that the normwise check
cannot tell from the rounding of a long sum. Its floor is c_S·u.

The floor covers an autograd that happens to round luckily. c_N (a few u)
is what two correct evaluation orders differ by; b_N·κ_N is a fraction of
the problem's first-order error bound, where a problem knows it: κ_N =
T_N/‖T‖_N, the size of the terms that cancel into the gradient over the
gradient (the seed layer computes it; a generic function has none, and its
floor is c_N·u). c_N and b_N come from the tolerance table
(``dtypes.DTYPES``). A candidate fails when either norm says so.

Every verdict states its *sensitivity*: G = T + B + R, a bug B and rounding
R. Another bug B' on top would give an error of at least ‖B'‖ − err, so any
B' with ‖B'‖ > threshold + err would have failed. A pass is then evidence of
a known strength.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from gradlab.core.compare_pass import GradSums, compare_pass
from gradlab.core.dtypes import dtype_info
from gradlab.core.numbers import ratio_or_zero

__all__ = [
    "bounds", "CHECKS", "compare", "compare_all", "Comparison", "degenerate",
    "degenerate_reason", "Error", "in_u", "known_mistake", "make_error", "norm_checks",
    "NORM_NAMES", "NormCheck", "NORMS", "rule_floors", "SCALE", "sensitivity_sentence",
    "STATUSES", "truth_norms", "TruthNorms", "Verdict", "verdict", "verdict_dict"
]

#: The two norms of the rule, and how a message names them (with the third check,
#: along the truth, where the errors carry it).
NORMS = ("max", "fro")
SCALE = "scale"
#: Every check, as the report's columns name them (``err_{check}``, …).
CHECKS = (*NORMS, SCALE)
NORM_NAMES = {"max": "max-norm", "fro": "normwise", SCALE: "along the truth"}
#: The statuses a verdict can have.
STATUSES = ("pass", "fail", "too-coarse", "degenerate")


@dataclass(frozen=True)
class Error:
    """A gradient's error against the truth, in both norms.

    ``abs_err`` = max|G − T|; ``rel_err`` = abs_err / max|T| (max-norm);
    ``fro_err`` = ‖G − T‖_F / ‖T‖_F (normwise); ``err_u`` and ``fro_u`` are
    those in units of u of the dtype; ``nonfinite`` counts NaN or ±inf
    entries of G. ``scale`` = ⟨G − T, T⟩/‖T‖², the error's component along the
    truth (signed; None where not measured).
    """

    abs_err: float
    rel_err: float
    err_u: float
    fro_err: float
    fro_u: float
    nonfinite: int
    scale: float | None = None

    def rel(self, norm: str) -> float:
        """The relative error in ``norm`` ("max", "fro", or "scale": its magnitude, NaN
        where not measured)."""
        if norm == SCALE:
            return math.nan if self.scale is None else abs(self.scale)
        return self.rel_err if norm == "max" else self.fro_err


def make_error(abs_err: float, ref_max: float, dtype: str, nonfinite: int = 0,
               fro_abs: float = math.nan, ref_fro: float = math.nan,
               along: float = math.nan) -> Error:
    """An Error from its absolute parts: max|G − T|, max|T|, ‖G − T‖_F, ‖T‖_F, and
    ⟨G − T, T⟩ (``along``)."""
    u = dtype_info(dtype).u
    rel, fro = ratio_or_zero(abs_err, ref_max), ratio_or_zero(fro_abs, ref_fro)
    scale = None if math.isnan(along) else ratio_or_zero(along, ref_fro * ref_fro)
    return Error(abs_err, rel, rel / u, fro, fro / u, nonfinite, scale)


@dataclass(frozen=True)
class TruthNorms:
    """The truth's own norms, which every gradient compared with it shares:
    ``peak`` = max|T| (NaN if T has a NaN) and ``fro`` = ‖T‖_F."""

    peak: float
    fro: float


def truth_norms(truth: torch.Tensor) -> TruthNorms:
    """max|T| and ‖T‖_F in float64, in one pass (``compare_pass``)."""
    return compare_all(truth, (), "float64").norms


def compare(grad: torch.Tensor, truth: torch.Tensor, dtype: str,
            norms: TruthNorms | None = None) -> Error:
    """``grad``'s error against ``truth`` in both norms and along the truth, taken in
    float64: d = G − T (G widened exactly, one rounding), then max|d|, ‖d‖² and
    ⟨d, T⟩ in one pass (``compare_pass``). ``norms``:
    the truth's ``truth_norms`` where the caller has them (a truth compared with
    several gradients)."""
    if norms is None:
        return compare_all(truth, (grad,), dtype).errors[0]
    return _errors(compare_pass(truth, (grad,)).grads, norms, dtype)[0]


@dataclass(frozen=True)
class Comparison:
    """One pass over a truth (``compare_all``): its norms, each gradient's Error against it
    and, where asked, the last gradient's block maxima of |G − T|."""

    norms: TruthNorms
    errors: tuple[Error, ...]
    maxima: torch.Tensor | None = None


def compare_all(truth: torch.Tensor, grads, dtype: str, block: int = 0) -> Comparison:
    """``truth_norms(truth)`` and ``compare(g, truth, dtype, norms)`` of each of
    ``grads``, bit for bit, in one pass over the truth and each gradient
    (``compare_pass``: its sums in a fixed order, the same on any machine and thread
    count).

    ``block`` > 0: also the largest |G − T| of each run of ``block`` entries of the
    last gradient (flattened; the first ``numel // block · block`` entries, NaN as
    +inf), for a top-k that looks only where the largest can be
    (``report.worst_entries``). ``block`` must divide ``compare_pass.ROW`` into runs of a
    multiple of ``compare_pass.RUN`` entries."""
    result = compare_pass(truth, grads, block)
    norms = TruthNorms(result.peak + 0.0, math.sqrt(result.tt))
    return Comparison(norms, _errors(result.grads, norms, dtype), result.maxima)


def _errors(sums: tuple[GradSums, ...], norms: TruthNorms, dtype: str) -> tuple[Error, ...]:
    """Each gradient's Error from its part of the pass and the truth's norms."""
    return tuple(make_error(g.abs_max + 0.0, norms.peak, dtype, g.nonfinite, math.sqrt(g.dd),
                            norms.fro, g.dt) for g in sums)


def bounds(n: int, dtype: str) -> tuple[float, float]:
    """Higham's relative bounds for a length-n dot product: √n·u (probabilistic)
    and n·u (worst case)."""
    u = dtype_info(dtype).u
    return math.sqrt(n) * u, n * u


@dataclass(frozen=True)
class NormCheck:
    """The rule in one norm: err ≤ threshold = 2·autograd + floor (all relative)."""

    norm: str
    err: float
    autograd: float
    floor: float

    @property
    def threshold(self) -> float:
        return 2 * self.autograd + self.floor

    @property
    def sensitivity(self) -> float:
        """The smallest further bug (relative, in this norm) that would have failed:
        threshold + err (triangle inequality)."""
        return self.threshold + self.err

    @property
    def failed(self) -> bool:
        return not self.err <= self.threshold  # a NaN error fails


@dataclass(frozen=True)
class Verdict:
    """Bug or rounding, with the evidence.

    status: ``pass`` (within rounding), ``fail`` (a bug), ``too-coarse`` (a
    known bug whose exact effect is below what this check resolves), or
    ``degenerate`` (no rounding yardstick: the truth is 0 or not finite, or
    autograd itself overflows or leaves its envelope). ``checks`` holds
    the rule in each norm (empty when degenerate); errors are relative.
    """

    status: str
    dtype: str
    u: float
    checks: Mapping[str, NormCheck]
    bug_effect: Mapping[str, float] | None
    message: str
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def _max(self, attr: str) -> float:
        check = self.checks.get("max")
        return getattr(check, attr) if check else math.nan

    @property
    def err(self) -> float:
        """The candidate's max-norm relative error."""
        return self._max("err")

    @property
    def err_autograd(self) -> float:
        """The yardstick's (autograd's) max-norm relative error."""
        return self._max("autograd")

    @property
    def threshold(self) -> float:
        """The max-norm threshold."""
        return self._max("threshold")

    def threshold_in(self, norm: str) -> float:
        check = self.checks.get(norm)
        return check.threshold if check else math.nan

    def sensitivity(self, norm: str) -> float:
        """The smallest further bug in ``norm`` (relative) that would have failed; NaN
        when there was no yardstick."""
        check = self.checks.get(norm)
        return check.sensitivity if check else math.nan


def in_u(x: float, u: float) -> str:
    """A relative number in units of u, three significant digits."""
    return f"{x / u:.3g} u"


def _evidence(check: NormCheck, u: float, autograd_label: str) -> str:
    rel = "≤" if not check.failed else ">"
    return (f"{NORM_NAMES[check.norm]} {in_u(check.err, u)} {rel} {in_u(check.threshold, u)} "
            f"= 2 × {autograd_label} {in_u(check.autograd, u)} + floor {in_u(check.floor, u)}")


def sensitivity_sentence(checks: Mapping[str, NormCheck], u: float) -> str:
    """"a bug of ≥ 7.1 u normwise (4.2e-07) or ≥ 16 u in one entry (9.5e-07) would
    have failed here", with ", or a wrong scale of ≥ 3.2 u" where the check along
    the truth ran."""
    fro, mx = checks["fro"].sensitivity, checks["max"].sensitivity
    scale = (f", or a wrong scale of ≥ {in_u(checks[SCALE].sensitivity, u)}"
             if SCALE in checks else "")
    return (f"a bug of ≥ {in_u(fro, u)} normwise ({fro:.2g} relative) or ≥ {in_u(mx, u)} "
            f"in one entry ({mx:.2g} of max|truth|){scale} would have failed here")


def verdict(dtype: str, err: Error, autograd: Error, *,
            kappa: Mapping[str, float] | None = None, truth_finite: bool = True,
            truth_zero: bool = False, bug_effect: Mapping[str, float] | None = None,
            envelope: bool = False, autograd_label: str = "autograd",
            notes: tuple[str, ...] = (), extra: Mapping[str, float] | None = None) -> Verdict:
    """The verdict on a candidate's ``err`` beside ``autograd``'s (the yardstick: the
    same mathematics in plain ops in ``dtype``; ``autograd_label`` names it).

    ``kappa``: κ_N ≥ 1 per norm, the problem's first-order error bound over the
    gradient (None: not known); floor_N = (c_N + b_N·κ_N)·u (``rule_floors``).
    ``bug_effect``: a known mistake's exact effect per norm (relative); all 0: it
    changes nothing here, and the gradient is judged as a correct one.
    ``envelope``: κ is complete, so autograd past ``DTYPES[dtype].envelope``
    floors means the dtype lost the case (``degenerate``). ``extra``: added to
    each floor, in u (what ``verification.allowance`` measured).
    """
    info, floors = dtype_info(dtype), rule_floors(dtype, kappa, extra)

    def make(status: str, checks: Mapping[str, NormCheck], message: str) -> Verdict:
        return Verdict(status, dtype, info.u, dict(checks), None if bug_effect is None
                       else dict(bug_effect), message, tuple(notes))

    why = degenerate_reason(dtype, err, autograd, floors, kappa=kappa,
                            truth_finite=truth_finite, truth_zero=truth_zero,
                            envelope=envelope, autograd_label=autograd_label)
    if why:
        return make("degenerate", {}, why)
    checks = norm_checks(dtype, err, autograd, floors, extra)
    evidence = "; ".join(_evidence(checks[norm], info.u, autograd_label)
                         for norm in ("fro", "max", SCALE) if norm in checks)
    if err.nonfinite:
        return make("fail", checks, f"bug: {err.nonfinite} non-finite entries where "
                                    f"{autograd_label} and the truth are finite")
    if any(check.failed for check in checks.values()):
        return make("fail", checks, f"bug: {evidence}")
    if bug_effect is not None and any(bug_effect.values()):
        return make(*known_mistake(dtype, checks, bug_effect, evidence))
    unchanged = "" if bug_effect is None else "; the mistake leaves this gradient unchanged"
    return make("pass", checks,
                f"rounding: {evidence}; {sensitivity_sentence(checks, info.u)}{unchanged}")


def rule_floors(dtype: str, kappa: Mapping[str, float] | None,
                extra: Mapping[str, float] | None) -> dict[str, float]:
    """floor_N = (c_N + b_N·κ_N + extra_N)·u in each norm of the rule (relative)."""
    info, extra = dtype_info(dtype), extra or {}
    return {norm: (info.floor_in(norm, None if kappa is None else kappa[norm])
                   + extra.get(norm, 0.0)) * info.u for norm in NORMS}


def degenerate_reason(dtype: str, err: Error, autograd: Error, floors: Mapping[str, float], *,
                      kappa: Mapping[str, float] | None, truth_finite: bool, truth_zero: bool,
                      envelope: bool, autograd_label: str) -> str:
    """Why the rule has no yardstick here ('' when it has one): the truth is not
    finite or is 0, autograd overflows, or (``envelope``) autograd's own error is past
    envelope·floor_N, where the dtype has lost the case."""
    info = dtype_info(dtype)
    u = info.u
    if not truth_finite:
        return "degenerate: the exact gradient is not finite here"
    if truth_zero:
        return ("degenerate: the exact gradient is 0, so no relative error is defined "
                "(compare absolute errors)")
    if autograd.nonfinite:
        return (f"degenerate: {dtype} overflows or underflows here; {autograd_label} gives "
                f"{autograd.nonfinite} non-finite entries (this candidate: "
                f"{err.nonfinite}, err {in_u(err.rel_err, u)})")
    over = [norm for norm in NORMS if envelope
            and not autograd.rel(norm) <= info.envelope * floors[norm]]
    if not over:
        return ""
    norm = over[0]
    where = "" if kappa is None else f" that κ = {kappa[norm]:.3g} allows"
    return (f"degenerate: {dtype} loses this case to underflow or overflow; "
            f"{autograd_label}'s own {NORM_NAMES[norm]} error is "
            f"{in_u(autograd.rel(norm), u)}, past the rounding envelope "
            f"{in_u(info.envelope * floors[norm], u)}{where} (this candidate: "
            f"{in_u(err.rel(norm), u)})")


def norm_checks(dtype: str, err: Error, autograd: Error, floors: Mapping[str, float],
                extra: Mapping[str, float] | None) -> dict[str, NormCheck]:
    """The rule in each norm, and along the truth where both errors carry it
    (its floor is (c_S + extra_S)·u)."""
    info, extra = dtype_info(dtype), extra or {}
    checks = {norm: NormCheck(norm, err.rel(norm), autograd.rel(norm), floors[norm])
              for norm in NORMS}
    if math.isfinite(err.rel(SCALE)) and math.isfinite(autograd.rel(SCALE)):
        checks[SCALE] = NormCheck(SCALE, err.rel(SCALE), autograd.rel(SCALE),
                                  (info.floor(SCALE) + extra.get(SCALE, 0.0)) * info.u)
    return checks


def known_mistake(dtype: str, checks: Mapping[str, NormCheck],
                  bug_effect: Mapping[str, float], evidence: str) -> tuple:
    """(status, checks, message) for a known mistake within the rule: ``fail`` when
    its exact effect exceeds the check's sensitivity in some norm (it vanished
    numerically), else ``too-coarse`` (rounding can hide it in ``dtype``)."""
    u = dtype_info(dtype).u
    seen = [n for n in ("fro", "max", SCALE)
            if n in checks and n in bug_effect and bug_effect[n] > checks[n].sensitivity]
    if seen:
        norm = seen[0]
        return ("fail", checks,
                f"bug: this mistake changes the exact gradient by "
                f"{in_u(bug_effect[norm], u)} {NORM_NAMES[norm]}, above what this "
                f"check resolves ({in_u(checks[norm].sensitivity, u)}), yet the "
                f"computed gradient is within rounding of the truth: in {dtype} the "
                f"mistake vanished numerically here ({evidence})")
    return ("too-coarse", checks,
            f"too coarse: this mistake changes the gradient by only "
            f"{in_u(bug_effect['fro'], u)} normwise and {in_u(bug_effect['max'], u)} "
            f"max-norm ({bug_effect['fro']:.2g} relative), within what rounding can "
            f"hide in {dtype} here ({sensitivity_sentence(checks, u)}), so {dtype} "
            f"cannot resolve it")


def degenerate(dtype: str, why: str, bug_effect: Mapping[str, float] | None = None
               ) -> Verdict:
    """A ``degenerate`` verdict for a reason the rule cannot see, such as a
    candidate of gradlab's own whose intermediates overflow the dtype."""
    return Verdict("degenerate", dtype, dtype_info(dtype).u, {},
                   None if bug_effect is None else dict(bug_effect), f"degenerate: {why}")


def verdict_dict(v: Verdict) -> dict:
    """A verdict as plain data (for JSON): the status, the message, the max-norm
    numbers at the top level, and each norm's rule with its sensitivity."""
    return {
        "status": v.status, "passed": v.passed, "message": v.message, "dtype": v.dtype,
        "u": v.u, "err": v.err, "err_autograd": v.err_autograd, "threshold": v.threshold,
        "bug_effect": None if v.bug_effect is None else dict(v.bug_effect),
        "norms": {norm: {"err": c.err, "autograd": c.autograd, "floor": c.floor,
                         "threshold": c.threshold, "sensitivity": c.sensitivity,
                         "baseline": c.autograd}  # its 0.1 name, kept through 0.2
                  for norm, c in v.checks.items()},
        "notes": list(v.notes),
    }
