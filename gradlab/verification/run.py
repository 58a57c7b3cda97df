r"""``gradlab.verify``: any function's backward against a plain-ops reference, per dtype.

For each dtype d, with every floating input rounded to d and the upstream
gradient w (drawn once in float64, a scalar output's w = 1) rounded to d::

    candidate   autograd of ``candidate`` in d (its own backward runs)
    autograd    autograd of ``reference`` in d, the yardstick: what rounding does
                to the same mathematics in plain ops
    truth       autograd of ``reference`` in float64 on the same rounded inputs
                and w, so that only arithmetic error is measured

and each differentiated input gets the one verdict rule (``core.verdict``) in
both norms: err_N ≤ 2·autograd_N + c_N·u.

float64 has no wider torch dtype: its truth is the reference in float64 (the
autograd itself). Autograd's own rounding b is estimated as its error in
float32 in units of float32's u (the same algorithm on the same draws rounded to
float32), times float64's u. That truth carries b itself, so a candidate within
rounding of the exact gradient, |G − T| ≤ 2b + c·u, is within 3b + c·u of it
(triangle inequality): the rule gets the autograd error 1.5·b
(``FLOAT64_AUTOGRAD_FACTOR``). The Taylor remainder test (``taylor``), which
needs no tolerance, checks the float64 gradient against the candidate's own
forward: first with every input moved at once (``taylor.joint_test``), then, for
each row where that does not find the gradients consistent or resolves less than that
input's own ladder would, input by input (``taylor.ladder``). Where the rule vouches
(``_Dtype._vouched``: it passed, finer than ``taylor.VOUCH``, gradients that are not
all the truth's bits, and the candidate's L(x) is the reference's within rounding),
a consistent joint test stands for every input without their own steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES, dtype_info, dtype_name
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.core.precise import abs_max
from gradlab.core.provenance import provenance
from gradlab.core.verdict import (
    CHECKS,
    SCALE,
    Error,
    TruthNorms,
    Verdict,
    compare,
    compare_all,
    verdict,
)
from gradlab.verification.allowance import Allowance, measure, on_range
from gradlab.verification.calls import (
    Grads,
    as_outputs,
    autograd_grads,
    call,
    describe,
    failure_text,
    first_line,
    gradients,
)
from gradlab.verification.recorder import Recorder, custom_backward
from gradlab.verification.report import Report, WorstEntries, empty_row, top_block
from gradlab.verification.spec import (
    DEFAULT_DTYPES,
    F64,
    Input,
    check_dtypes,
    check_inputs,
    check_memory,
    check_seed,
    draw_inputs,
    estimate_bytes,
    shape_text,
)
from gradlab.verification.taylor import (
    COVER,
    VOUCH,
    Line,
    Taylor,
    covers_alone,
    forwards_agree,
    joint_test,
    ladder,
    loss_at,
    own_line,
    pairing,
    reach,
    scaled_direction,
)

__all__ = [
    "ALLOWANCE_STREAM", "AUTOGRAD", "Deltas", "FLOAT64_AUTOGRAD", "FLOAT64_AUTOGRAD_FACTOR",
    "FLOAT64_PRECISION", "gradient_deltas", "Mistake", "no_gradient", "verify"
]

#: What the float64 rows' reference precision says.
FLOAT64_PRECISION = "float64 (no wider dtype: autograd's rounding estimated from float32)"
AUTOGRAD = "autograd"
FLOAT64_AUTOGRAD = "autograd (1.5 × its float32 error in u)"
#: float64's autograd error: 1.5 × float32's autograd error in u (see above).
FLOAT64_AUTOGRAD_FACTOR = 1.5
#: The allowance's draws in dtype d come from a generator seeded seed + this + d's
#: index in DTYPE_NAMES, apart from verify's own stream and a problem's
#: (spec.side_generator: seed + 2³²), and the same whichever dtypes run before d.
ALLOWANCE_STREAM = 2 * 2**32


@dataclass(frozen=True)
class Mistake:
    """A planted mistake's exact mathematics, to measure its effect.

    ``wrong(dtype)`` is the mistaken function as it behaves for a candidate
    running in ``dtype`` (a mistake of K·u depends on the dtype's u); ``right`` is
    the same machinery without the mistake. Both are differentiated in float64
    on the same rounded inputs, so their difference is the mistake alone:
    effect_N = ‖∇wrong − ∇right‖_N / ‖∇right‖_N (max-norm and normwise). A
    gradient the mistake leaves exactly unchanged is judged as a correct one.
    """

    wrong: Callable[[str], Callable]
    right: Callable


def verify(candidate: Callable, reference: Callable, inputs: Mapping,
           dtypes: Sequence[str] = DEFAULT_DTYPES, seed: int = 0, *,
           mistake: Mistake | None = None, limits: Limits | None = None,
           names: tuple[str, str] | None = None) -> Report:
    """Verify ``candidate``'s backward against ``reference`` in each of ``dtypes``.

    ``candidate`` and ``reference`` take the inputs positionally, in the order of
    ``inputs`` (name → shape tuple or tensor, see ``spec``), and return a tensor
    or a tuple of tensors. Returns a ``Report``: one row per (dtype,
    differentiated input). A candidate that raises, returns the wrong outputs or
    no gradient gets ``error`` rows; bad arguments, or a reference that raises,
    raise GradlabError.

    ``mistake`` (planted mistakes, see ``Mistake``): the mistake's exact effect
    goes to the verdict, so a mistake below what the check resolves is
    ``too-coarse`` rather than ``pass``. ``limits`` defaults to
    ``Limits.from_env()``. ``names``: how the report names the candidate and
    the reference (default: their qualified names).
    """
    dtypes, run = _start(candidate, reference, inputs, dtypes, seed, mistake, limits)
    specs = run.specs
    rows = [row for dtype in dtypes for row in run.rows(dtype)]
    cand_name, ref_name = names or (describe(candidate), describe(reference))
    prov = provenance()
    for row in rows:
        row.update(candidate=cand_name, reference=ref_name, seed=seed, **prov)
    return Report(tuple(rows), cand_name, ref_name, dtypes, seed,
                  tuple((s.name, s.describe()) for s in specs), prov, run.worst)


def _start(candidate, reference, inputs, dtypes, seed, mistake, limits
           ) -> tuple[tuple[str, ...], _Run]:
    """(the dtypes, the run): the arguments checked, the memory guarded, the inputs
    drawn from a generator seeded ``seed`` (the upstream gradients and the Taylor
    directions come from it next, once the reference's outputs are known)."""
    if not callable(candidate):
        raise GradlabError(f"candidate must be callable (got "
                           f"{type(candidate).__name__})", "candidate")
    if not callable(reference):
        raise GradlabError(f"reference must be callable (got {type(reference).__name__})",
                           "reference")
    dtypes = check_dtypes(dtypes)
    check_seed(seed)
    check_inputs(inputs)
    limits = Limits.from_env() if limits is None else limits
    need = estimate_bytes(inputs)
    check_memory(need, limits)
    generator = torch.Generator().manual_seed(seed)
    specs = draw_inputs(inputs, generator)
    return dtypes, _Run(candidate, reference, specs, mistake,
                        _Draws(generator, need, limits, "float64" in dtypes))


@dataclass(frozen=True)
class Deltas:
    """One dtype's gradients against the truth, per differentiated input, as float64
    tensors of the gradient's shape: ``candidate`` |G − T| and ``autograd`` |A − T|
    (empty in float64, whose truth is autograd itself), and ``peak`` max|T|.
    ``failure`` says why there are none (the candidate raised, an input overflows)."""

    dtype: str
    candidate: Mapping[str, torch.Tensor]
    autograd: Mapping[str, torch.Tensor]
    peak: Mapping[str, float]
    failure: str | None = None


def gradient_deltas(candidate: Callable, reference: Callable, inputs: Mapping, dtype: str,
                    seed: int = 0, *, limits: Limits | None = None) -> Deltas:
    """|candidate − truth| and |autograd − truth| per element in ``dtype``, on the
    draws of ``verify(candidate, reference, inputs, …, seed)``: the same rounded
    inputs and upstream gradient, so max|G − T| / max|T| is that report's
    ``err_max``. For heat maps of where an error sits; bad arguments, or a
    reference that raises, raise GradlabError like ``verify``."""
    (dtype,), run = _start(candidate, reference, inputs, (dtype,), seed, None, limits)
    specs = run.specs
    torch_dtype = dtype_info(dtype).torch_dtype
    over = [s.name for s in specs if s.differentiated and s.overflows(torch_dtype)]
    if over:
        return Deltas(dtype, {}, {}, {}, f"input {over[0]!r} overflows {dtype} when rounded")
    args = run._args(torch_dtype)
    truth, ups = run._truth(args, torch_dtype)
    peak = {n: abs_max(t) for n, t in truth.items()}
    autograd = {}
    if dtype != "float64":
        base = run._reference(args, ups, torch_dtype)
        autograd = {n: (base[n].detach().to(F64) - t).abs() for n, t in truth.items()}
    cand = run.candidate_grads(args, ups, torch_dtype)
    why = next(filter(None, (no_gradient(cand, n, dtype) for n in truth)), None)
    if why:
        return Deltas(dtype, {}, autograd, peak, why)
    deltas = {n: (cand.grads[n].detach().to(F64) - t).abs() for n, t in truth.items()}
    return Deltas(dtype, deltas, autograd, peak)


def no_gradient(cand: Grads, name: str, dtype: str) -> str | None:
    """Why the candidate gave no gradient for input ``name`` in ``dtype`` (it raised,
    or returned None for it); None when it gave one."""
    if cand.failure:
        return f"the candidate {cand.failure} in {dtype}"
    if cand.grads[name] is None:
        return (f"no gradient for input {name!r} in {dtype} (the candidate's output does "
                "not depend on it, or its backward returned None)")
    return None


class _Draws:
    """What is drawn once the reference's outputs are known (from its first float64
    run): the upstream gradient per output (None for a non-floating output; 1 for a
    scalar) and, for float64, one Taylor direction per differentiated input. They
    come from verify's generator after the inputs."""

    def __init__(self, generator: torch.Generator, need: dict[str, int], limits: Limits,
                 taylor: bool):
        self.generator, self.need, self.limits, self.taylor = generator, need, limits, taylor
        self.shapes: list[tuple | None] | None = None
        self.upstream: list[torch.Tensor | None] = []
        self.directions: dict[str, torch.Tensor] = {}

    def know(self, outs: list[torch.Tensor], specs: list[Input]) -> None:
        if self.shapes is not None:
            return
        shapes = [tuple(o.shape) if o.is_floating_point() else None for o in outs]
        outputs = {f"output {i}": math.prod(s) * 2 * 8 for i, s in enumerate(shapes)
                   if s is not None}
        check_memory(self.need | outputs, self.limits, "inputs and outputs")
        gen = self.generator
        self.upstream = [None if s is None else torch.ones((), dtype=F64) if s == ()
                         else torch.randn(s, generator=gen, dtype=F64) for s in shapes]
        if self.taylor:
            self.directions = {s.name: torch.randn(s.shape, generator=gen, dtype=F64)
                               for s in specs if s.differentiated}
        self.shapes = shapes


class _Run:
    """The draws and functions of one verify call; ``rows(dtype)`` does one dtype.

    The first float64 truth pass runs under a ``Recorder``: it says whether the
    reference narrows float64 (then no row is judged). Where a dtype has a row that
    fails the rule, the ``allowance`` of that dtype (kinks, the truth's spread, the
    longest sum behind each input's gradient: ``_lengths``) judges its failing rows
    again."""

    def __init__(self, candidate, reference, specs, mistake, draws: _Draws):
        self.candidate, self.reference, self.mistake = candidate, reference, mistake
        self.specs, self.draws = specs, draws
        self.names = [s.name if s.differentiated else None for s in specs]
        self._autograd_errors: dict[str, dict[str, Error]] = {}
        self.narrowing: str | None = None
        self.recorded = False
        self.lengths: dict[str, int] | None = None   # taken where needed: ``_lengths``
        #: the reference's L(x) and its rounding scale (``taylor.pairing``) at the float64
        #: inputs, from its first float64 truth pass (float64 runs only)
        self.reference_at_x: tuple[float, float] | None = None
        self.seed = draws.generator.initial_seed()
        #: (dtype, input) → the WORST_KEPT entries with the largest |G − T|.
        self.worst = WorstEntries()

    def _args(self, dtype: torch.dtype) -> list[torch.Tensor]:
        return [s.at(dtype) for s in self.specs]

    def _ups(self, dtype: torch.dtype) -> list[torch.Tensor | None]:
        return [None if w is None else w.to(dtype) for w in self.draws.upstream]

    def candidate_grads(self, args, ups, dtype: torch.dtype, measure=None) -> Grads:
        """The candidate's gradients, or a Grads whose ``failure`` says how it failed;
        ``measure`` of its outputs too (``calls.autograd_grads``)."""
        try:
            return autograd_grads(self.candidate, args, self.names, ups, self.draws.shapes,
                                  dtype, measure)
        except Exception as exc:
            return Grads(failure=failure_text(exc))

    def _reference(self, args, ups, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The reference's gradients (a GradlabError if it fails)."""
        name = dtype_name(dtype)
        try:
            result = autograd_grads(self.reference, args, self.names, ups, self.draws.shapes,
                                    dtype)
        except Exception as exc:
            raise GradlabError(f"reference {failure_text(exc)} in {name}", "reference") from None
        return self._checked(result, name)

    def _checked(self, result: Grads, name: str) -> dict[str, torch.Tensor]:
        if result.failure:
            raise GradlabError(f"reference in {name}: {result.failure}", "reference")
        missing = [n for n, g in result.grads.items() if g is None]
        if missing:
            raise GradlabError(f"reference: no gradient for input {missing[0]!r} in {name} "
                               "(the reference does not use it)", "reference")
        return dict(result.grads)

    def _truth(self, args, dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], list]:
        """The reference in float64 on the same rounded inputs and upstream (drawn
        after the first such run, which gives the outputs' shapes), and that
        upstream rounded to ``dtype``. The first run's forward is recorded
        (``Recorder``), and its backward too where the reference brings backward code
        of its own (``recorder.custom_backward``)."""
        wide = [a.detach().to(F64) if a.is_floating_point() else a for a in args]
        recorder = None if self.recorded else Recorder(lengths=False)
        with recorder or contextlib.nullcontext():
            try:
                leaves, outs = call(self.reference, wide, self.names)
            except Exception as exc:
                raise GradlabError(f"reference {failure_text(exc)} in float64",
                                   "reference") from None
        self.draws.know(outs, self.specs)
        ups = self._ups(dtype)
        wide_ups = [None if w is None else w.to(F64) for w in ups]
        if dtype == F64 and self.draws.taylor and self.reference_at_x is None:
            with contextlib.suppress(Exception):   # then the rule vouches for none
                self.reference_at_x = pairing(self.draws.upstream)(outs)
        backward = recorder if recorder is not None and custom_backward(outs) else None
        with backward or contextlib.nullcontext():
            try:
                result = gradients(leaves, outs, self.names, wide_ups, self.draws.shapes, F64)
            except Exception as exc:
                raise GradlabError(f"reference raised {first_line(exc)} in float64",
                                   "reference") from None
        if recorder is not None:
            self.recorded, self.narrowing = True, recorder.narrowing
        return self._checked(result, "float64"), ups

    def _lengths(self, wide: list, wide_ups: list) -> dict[str, int]:
        """The longest sum behind each input's gradient (``Recorder``), from one more
        float64 truth pass on ``wide``, recorded in full: taken once, where a dtype's
        row fails the rule (its allowance needs them); a passing run skips that
        recording on its first truth pass."""
        if self.lengths is None:
            with Recorder() as recorder:
                result = autograd_grads(self.reference, [a.clone() for a in wide], self.names,
                                        wide_ups, self.draws.shapes, F64)
            self.lengths = {n: recorder.length(g) for n, g in (result.grads or {}).items()
                            if g is not None}
        return self.lengths

    def _truth_at(self, wide: list, wide_ups: list, rounding=None) -> dict[str, torch.Tensor]:
        """The reference's float64 gradients at moved inputs, with ``rounding`` (a
        dispatch mode that moves each intermediate) where given
        (``allowance.measure``'s ``truth_at``)."""
        with rounding or contextlib.nullcontext():
            result = autograd_grads(self.reference, [a.clone() for a in wide], self.names,
                                    wide_ups, self.draws.shapes, F64)
        return {n: g.detach() for n, g in self._checked(result, "float64").items()}

    def allowance(self, name: str, args, ups, truth) -> Allowance | None:
        """The Allowance of dtype ``name`` (None where the reference raises at a moved
        point: the rule alone then stands)."""
        info = dtype_info(name)
        wide = [a.detach().to(F64) if a.is_floating_point() else a for a in args]
        wide_ups = [None if w is None else w.to(F64) for w in ups]
        try:
            generator = torch.Generator().manual_seed(  # its own stream per dtype
                self.seed + ALLOWANCE_STREAM + DTYPE_NAMES.index(name))
            return measure(self._truth_at, wide, wide_ups, self.names, truth,
                           self._lengths(wide, wide_ups),
                           info.u, info.u_acc, name == "float64", generator)
        except Exception:  # noqa: BLE001 - the reference failed at a moved point
            return None

    def autograd_errors(self, name: str) -> dict[str, Error]:
        """Autograd's error against the truth in dtype ``name``, per input."""
        if name not in self._autograd_errors:
            dtype = dtype_info(name).torch_dtype
            args = self._args(dtype)
            truth, ups = self._truth(args, dtype)
            base = self._reference(args, ups, dtype)
            self._autograd_errors[name] = {n: compare(base[n], t, name) for n, t in truth.items()}
        return self._autograd_errors[name]

    def rows(self, name: str) -> list[dict]:
        dtype = dtype_info(name).torch_dtype
        specs = [s for s in self.specs if s.differentiated]
        overflow = [s for s in specs if s.overflows(dtype)]
        if overflow:
            why = (f"degenerate: input {overflow[0].name!r} overflows {name} when rounded "
                   f"(max|{overflow[0].name}| = {overflow[0].peak:.3g})")
            return [self._row(name, s, "degenerate", why) for s in specs]
        args = self._args(dtype)
        truth, ups = self._truth(args, dtype)
        if self.narrowing:
            why = (f"degenerate: the reference does not compute in float64 ({self.narrowing}: "
                   "a .float() or dtype= inside it), so there is no float64 truth to judge "
                   "against")
            return [self._row(name, s, "degenerate", why) for s in specs]
        dt = _Dtype(self, name, args, ups, truth)
        cand = dt.candidate()
        dt.grads = {n: g for n, g in (cand.grads or {}).items() if g is not None}
        dt.measure()
        rows = [dt.error_row(spec, cand) or dt.judged_row(spec, cand.grads[spec.name])
                for spec in specs]
        return rows

    def _effects(self, name, args, ups) -> dict[str, dict[str, float]]:
        """The planted mistake's exact effect on each gradient (relative, per norm)."""
        wide = [a.detach().to(F64) if a.is_floating_point() else a for a in args]
        wide_ups = [None if w is None else w.to(F64) for w in ups]
        wrong, right = (autograd_grads(fn, wide, self.names, wide_ups, self.draws.shapes,
                                       F64).grads
                        for fn in (self.mistake.wrong(name), self.mistake.right))
        out = {}
        for n, t in right.items():
            e = compare(wrong[n], t, "float64")
            out[n] = {"max": e.rel_err, "fro": e.fro_err, SCALE: e.rel(SCALE)}
        return out

    def _row(self, name, spec, status, evidence, precision="", autograd_err=None,
             output_dtypes=()) -> dict:
        row = empty_row()
        row.update(dtype=name, input=spec.name, shape=shape_text(spec.shape), status=status,
                   evidence=evidence, u=dtype_info(name).u, reference_precision=precision,
                   output_dtype=",".join(output_dtypes))
        if autograd_err is not None:
            _autograd_columns(row, autograd_err)
        return row


class _Dtype:
    """One dtype of a run: the truth, autograd, the candidate and their verdicts."""

    def __init__(self, run: _Run, name: str, args, ups, truth):
        self.run, self.name, self.args, self.ups, self.truth = run, name, args, ups, truth
        self.dtype = dtype_info(name).torch_dtype
        self.autograd: dict[str, torch.Tensor] = {}
        self.autograd_err: dict[str, Error] = {}
        if name == "float64":
            self.autograd_err = {n: _scaled(e, name)
                                 for n, e in run.autograd_errors("float32").items()}
            self.precision, self.autograd_label = FLOAT64_PRECISION, FLOAT64_AUTOGRAD
        else:
            self.autograd = run._reference(args, ups, self.dtype)
            self.precision, self.autograd_label = "float64", AUTOGRAD
        self.norms: dict[str, TruthNorms] = {}
        self.errors: dict[str, Error] = {}      # the candidate's, per input
        self.maxima: dict[str, torch.Tensor | None] = {}
        self.effect = run._effects(name, args, ups) if run.mistake else {}
        self._allowance: Allowance | None | bool = False   # False: not measured yet
        self.at_x = None
        self.grads: dict[str, torch.Tensor] = {}
        self._joint: Taylor | None | bool = False   # False: not run yet
        self.scaled: dict[str, torch.Tensor] = {}   # input → its scaled Taylor direction
        self.output_dtypes: tuple[str, ...] = ()

    def candidate(self) -> Grads:
        """The candidate's gradients; in float64 also L(x) and its rounding scale for the
        Taylor tests (``taylor.pairing``), from the forward of those gradients."""
        run = self.run
        taylor = self.name == "float64" and run.draws.taylor
        cand = run.candidate_grads(self.args, self.ups, self.dtype,
                                   pairing(run.draws.upstream) if taylor else None)
        self.output_dtypes = cand.output_dtypes
        if cand.measured is not None:
            self.at_x = cand.measured
        return cand

    def measure(self) -> None:
        """Once the candidate has run: one pass over each input's truth (``verdict.compare_all``)
        for its norms, autograd's error (not in float64, whose is carried over) and
        the candidate's, with the block maxima ``worst_entries`` starts from."""
        for n, t in self.truth.items():
            grads = [g for g in (self.autograd.get(n), self.grads.get(n)) if g is not None]
            block = top_block(self.grads[n]) if n in self.grads else 0
            result = compare_all(t, grads, self.name, block)
            self.norms[n], self.maxima[n] = result.norms, result.maxima
            errors = list(result.errors)
            if n in self.autograd:
                self.autograd_err[n] = errors.pop(0)
            if n in self.grads:
                self.errors[n] = errors.pop(0)
        if self.name != "float64":
            self.run._autograd_errors.setdefault(self.name, self.autograd_err)

    def error_row(self, spec, cand: Grads) -> dict | None:
        """The ``error`` row of an input the candidate gave no gradient for (None if it
        gave one)."""
        why = no_gradient(cand, spec.name, self.name)
        if why is None:
            return None
        return self.run._row(self.name, spec, "error", f"error: {why}", self.precision,
                             self.autograd_err[spec.name], self.output_dtypes)

    def judged_row(self, spec, grad: torch.Tensor) -> dict:
        """The rule's verdict on one input's gradient; where it fails, the verdict with
        this dtype's allowance; in float64, the Taylor test beside it."""
        n = spec.name
        err = self.errors[n]
        bug = self.effect.get(n)
        v = self._verdict(n, err, self.autograd_err[n], bug)
        autograd_err, allowed = self.autograd_err[n], ""
        if v.status == "fail" and not err.nonfinite and self.allowance() is not None:
            v, err, autograd_err, allowed = self._allowed(n, grad, bug)
        self.run.worst.take((self.name, n), grad, self.autograd.get(n), self.truth[n],
                            self.norms[n].peak, v.u, self._kinks(n), self.maxima[n])
        taylor = (self._taylor(n, grad, self._vouched(v, allowed))
                  if self.name == "float64" and v.status != "degenerate" else None)
        return self._verdict_row(spec, v, err, autograd_err, grad, taylor, allowed)

    def _verdict(self, n: str, err: Error, autograd_err: Error, bug, extra=None) -> Verdict:
        peak = self.norms[n].peak       # NaN or inf if the truth is not finite
        return verdict(self.name, err, autograd_err, truth_finite=math.isfinite(peak),
                       truth_zero=peak == 0, bug_effect=bug, autograd_label=self.autograd_label,
                       extra=extra)

    def allowance(self) -> Allowance | None:
        if self._allowance is False:
            self._allowance = self.run.allowance(self.name, self.args, self.ups, self.truth)
        return self._allowance

    def _kinks(self, n: str):
        allowance = self._allowance or None
        return allowance.kinks.get(n) if allowance else None

    def _allowed(self, n: str, grad, bug) -> tuple[Verdict, Error, Error, str]:
        """The verdict with kink entries judged against their one-sided range and each
        threshold raised to what correct code may reach where that is larger
        (``Allowance.thresholds``), and the sentence that says so."""
        allowance, info = self.allowance(), dtype_info(self.name)
        kinks = allowance.kinks.get(n)
        truth, norms = self.truth[n], self.norms[n]
        err = compare(on_range(grad, truth, kinks), truth, self.name, norms)
        autograd_err = self.autograd_err[n]
        if n in self.autograd and kinks is not None and kinks.count:
            autograd_err = compare(on_range(self.autograd[n], truth, kinks), truth, self.name,
                                   norms)
        rule = self._verdict(n, err, autograd_err, bug)
        extra = {check: max(0.0, allowed - rule.threshold_in(check) / info.u)
                 for check, allowed in allowance.thresholds(n, info).items()
                 if check in rule.checks}
        v = self._verdict(n, err, autograd_err, bug, extra)
        sentence = allowance.sentence(n, info.bound_generic)
        if kinks is not None and kinks.count and rule.status != "fail":
            sentence += ": all of the disagreement beyond rounding sits at those entries"
        return v, err, autograd_err, sentence

    def _vouched(self, v: Verdict, allowed: str) -> bool:
        """Whether the rule vouches for the row's own Taylor ladder: it passed on its own
        (no allowance), would fail every further error of ``taylor.VOUCH`` relative in
        each norm, the candidate's gradients are not all the truth's bits (it is not the
        reference's autograd over again), and the candidate's L(x) is the reference's
        within rounding (``taylor.forwards_agree``)."""
        return (v.status == "pass" and not allowed
                and any(e.rel_err > 0 for e in self.errors.values())
                and all(v.sensitivity(norm) <= VOUCH for norm in v.checks)
                and self.run.reference_at_x is not None
                and forwards_agree(self._at_x(), self.run.reference_at_x))

    def _taylor(self, n: str, grad, vouched: bool = False) -> Taylor:
        """The joint test where it finds the gradients consistent with the forward and
        resolves at least what this input's own ladder would (or the rule vouches for
        that ladder: ``_vouched``), else that ladder (which also says why where the
        forward raises). The ladder and the reach that decides take their steps on one
        line (``taylor.own_line``): the step they share runs once."""
        joint, line = self.joint_taylor(), None
        if joint is not None and joint.decided and not joint.failed and n in joint.moved:
            if vouched:
                return dataclasses.replace(joint, vouched=True)
            covered, line = self._covers(joint, n, grad)
            if covered:
                return joint
        try:
            return ladder(line or self._own_line(n, grad))
        except Exception as exc:  # the forward at a moved point: no decision
            return Taylor((), 0, 0, note=f"the candidate raised {first_line(exc)}")

    def joint_taylor(self) -> Taylor | None:
        """``taylor.joint_test`` over every input the candidate gave a gradient for, run
        once (None where the forward raises)."""
        if self._joint is False:
            run, names = self.run, tuple(self.grads)
            try:
                self._joint = joint_test(
                    run.candidate, self._plain(),
                    {run.names.index(n): self.grads[n].detach() for n in names},
                    run.draws.upstream,
                    {run.names.index(n): run.draws.directions[n] for n in names},
                    as_outputs, self._at_x(), names,
                    {run.names.index(n): self._scaled(n) for n in names})
            except Exception:  # noqa: BLE001 - the forward raised: each input's own test
                self._joint = None
        return self._joint

    def _covers(self, joint: Taylor, n: str, grad) -> tuple[bool, Line | None]:
        """Whether ``joint`` resolves COVER × less than input ``n``'s own ladder would
        (``taylor.reach`` of its own line; ``taylor.covers_alone`` where ``n`` moved
        alone), and that line where it was made (its step is the ladder's too)."""
        if len(joint.moved) == 1:
            return covers_alone(joint), None
        line = None
        try:
            line = self._own_line(n, grad)
            return COVER * joint.reach <= reach(line), line
        except Exception:  # noqa: BLE001 - the forward raised: the ladder says so
            return False, line

    def _own_line(self, n: str, grad) -> Line:
        """Input ``n`` moved alone (``taylor.own_line``), from L(x) (``_at_x``)."""
        run = self.run
        return own_line(run.candidate, self._plain(), run.names.index(n), grad.detach(),
                        run.draws.upstream, run.draws.directions[n], as_outputs, self._at_x(),
                        self._scaled(n))

    def _scaled(self, n: str) -> torch.Tensor:
        """Input ``n``'s Taylor direction scaled to its rms (``taylor.scaled_direction``),
        once for the joint test and the input's own reach."""
        if n not in self.scaled:
            x = self.args[self.run.names.index(n)].detach()
            self.scaled[n] = scaled_direction(x, self.run.draws.directions[n])
        return self.scaled[n]

    def _plain(self) -> list[torch.Tensor]:
        return [a.detach() for a in self.args]

    def _at_x(self) -> tuple[float, float]:
        """L(x) and its rounding scale, shared by every Taylor test: from the candidate's
        float64 forward with autograd (``candidate``), else one forward here."""
        if self.at_x is None:
            self.at_x = loss_at(self.run.candidate, self._plain(), self.run.draws.upstream,
                                as_outputs)
        return self.at_x

    def _verdict_row(self, spec, v: Verdict, err: Error, autograd_err: Error, grad, taylor,
                     allowed: str) -> dict:
        status, evidence = v.status, v.message
        if allowed:
            evidence = f"{evidence} ({allowed})"
        if taylor is not None:
            if taylor.failed and status != "fail":
                status = "fail"
                evidence = f"bug: {taylor.sentence()}; the rule alone: {evidence}"
            else:
                evidence = f"{evidence}; {taylor.sentence()}"
        row = self.run._row(self.name, spec, status, evidence, self.precision, autograd_err,
                            self.output_dtypes)
        u = v.u
        row.update(err_max=err.rel_err, err_max_u=err.err_u, err_fro=err.fro_err,
                   err_fro_u=err.fro_u, grad_dtype=dtype_name(grad.dtype),
                   nonfinite=err.nonfinite)
        if SCALE in v.checks:
            row.update(err_scale=err.rel(SCALE), err_scale_u=err.rel(SCALE) / u)
        for norm in CHECKS:
            threshold = v.threshold_in(norm)
            row[f"threshold_{norm}"] = threshold
            row[f"threshold_{norm}_u"] = threshold / u
            row[f"sensitivity_{norm}"] = v.sensitivity(norm)
            if v.bug_effect is not None and norm in v.bug_effect:
                row[f"bug_effect_{norm}"] = v.bug_effect[norm]
        if taylor is not None:
            row.update(taylor_rate=taylor.rate, taylor_rates=taylor.rates_text())
        kinks = self._kinks(spec.name)
        row.update(kinks=kinks.count if kinks is not None else 0)
        return row


def _autograd_columns(row: dict, e: Error) -> None:
    scale = e.rel(SCALE)
    row.update(autograd_max=e.rel_err, autograd_max_u=e.err_u, autograd_fro=e.fro_err,
               autograd_fro_u=e.fro_u, autograd_scale=scale, autograd_scale_u=scale / row["u"],
               autograd_nonfinite=e.nonfinite)


def _scaled(e: Error, name: str) -> Error:
    """A float32 error carried over to ``name`` at FLOAT64_AUTOGRAD_FACTOR times the
    same number of u; 0 where float32's autograd is not finite (it then
    estimates nothing)."""
    if e.nonfinite or not (math.isfinite(e.err_u) and math.isfinite(e.fro_u)):
        return Error(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    u = DTYPES[name].u
    err_u, fro_u = FLOAT64_AUTOGRAD_FACTOR * e.err_u, FLOAT64_AUTOGRAD_FACTOR * e.fro_u
    return Error(math.nan, err_u * u, err_u, fro_u * u, fro_u, 0)
