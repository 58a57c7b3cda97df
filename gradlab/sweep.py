"""Sweeps: a grid of cases × bug-zoo variants, run point by point into one frame.

A point is one Case × one variant. Its row is ``Check.to_row()``, then
``error`` and the provenance columns (see gradlab/schema.py). The runner
draws the inputs once per (m, n, batch, scale, seed), rounds them once per
dtype, and computes the reference once per case, shared by its variants.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch

from gradlab import __version__, schema
from gradlab.case import Case, Limits, MiB
from gradlab.check import run_check
from gradlab.dtypes import DTYPE_NAMES, dtype_info
from gradlab.errors import GradlabError
from gradlab.gradients import METHODS, VARIANTS
from gradlab.inputs import Inputs, draw
from gradlab.provenance import provenance

#: Sweep field → the Case field that validates each of its values.
_AXES = {"m": "m", "n": "n", "dims": "m", "batch": "batch", "dtypes": "dtype", "eps": "eps",
         "placements": "eps_placement", "scales": "scale", "seeds": "seed"}
_FLOATS = ("eps", "scales")
VARIANT_NAMES = ("none", *VARIANTS)
DEFAULT_DIMS = tuple(2**k for k in range(1, 13))  # 2, 4, …, 4096

Progress = Callable[[int, int, float], None]
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class Sweep:
    """A grid: every combination of the values of each field.

    Sizes are ``m`` × ``n`` (a Cartesian product) or, when ``dims`` is not
    empty, paired m = n over ``dims``; then ``dims`` wins and m, n are set to ().
    ``variants`` are bug-zoo names, "none" meaning the correct derivation.
    ``methods``: autograd always runs (it is the baseline); kron is skipped,
    with its reason in the row, where J is over the kron budget.
    Lists are accepted and stored as tuples, so a Sweep is hashable.
    """

    m: tuple[int, ...] = (2,)
    n: tuple[int, ...] = (3,)
    dims: tuple[int, ...] = ()
    batch: tuple[int, ...] = (1,)
    dtypes: tuple[str, ...] = ("float32",)
    eps: tuple[float, ...] = (0.0,)
    placements: tuple[str, ...] = ("inside",)
    scales: tuple[float, ...] = (1.0,)
    seeds: tuple[int, ...] = (0,)
    variants: tuple[str, ...] = ("none",)
    methods: tuple[str, ...] = METHODS

    def __post_init__(self):
        for name in (*_AXES, "variants", "methods"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
                raise GradlabError(f"{name} must be a tuple of values (got {value!r})")
            value = tuple(value)
            if name in _FLOATS:  # 0 and 0.0 are the same sweep
                value = tuple(float(v) if _number(v) else v for v in value)
            object.__setattr__(self, name, value)
        if self.dims:
            object.__setattr__(self, "m", ())
            object.__setattr__(self, "n", ())
        for name, case_field in _AXES.items():
            values = getattr(self, name)
            if not values and not (name == "dims" or (name in ("m", "n") and self.dims)):
                raise GradlabError(f"{name} must have at least one value (got ())")
            for value in values:
                try:
                    Case(**{"m": 2, "n": 3, case_field: value})
                except GradlabError as exc:  # "m must be ≥ 1 …" → "dims: each must be ≥ 1 …"
                    raise GradlabError(f"{name}: each{str(exc).removeprefix(case_field)}") \
                        from None
        check_members("variants", self.variants, VARIANT_NAMES)
        check_members("methods", self.methods, METHODS)
        for name in (*_AXES, "variants", "methods"):
            values = getattr(self, name)
            repeated = sorted(str(v) for v, count in Counter(values).items() if count > 1)
            if repeated:
                raise GradlabError(f"{name} repeats {', '.join(repeated)}: each value once")

    @classmethod
    def default(cls) -> Sweep:
        """The dashboard's default: m = n ∈ {2, 4, …, 4096} × 4 dtypes × ε ∈ {0, 1e-6,
        1e-5} × seeds {0, 1, 2}: 432 points of autograd and structured."""
        return cls(dims=DEFAULT_DIMS, dtypes=DTYPE_NAMES, eps=(0.0, 1e-6, 1e-5),
                   seeds=(0, 1, 2), methods=("autograd", "structured"))

    def sizes(self) -> tuple[tuple[int, int], ...]:
        """The (m, n) pairs, in run order."""
        if self.dims:
            return tuple((d, d) for d in self.dims)
        return tuple(itertools.product(self.m, self.n))

    @property
    def points(self) -> int:
        """How many rows the sweep gives: cases × variants (counted, not listed)."""
        sizes = len(self.dims) if self.dims else len(self.m) * len(self.n)
        return sizes * math.prod(len(axis) for axis in (
            self.batch, self.dtypes, self.eps, self.placements, self.scales, self.seeds,
            self.variants))

    def largest_case(self) -> Case:
        """The case that needs the most memory (case_bytes grows with m, n, batch and the
        dtype's width), found without listing the cases."""
        widest = max(self.dtypes, key=lambda d: dtype_info(d).bits)
        m, n = (max(self.dims),) * 2 if self.dims else (max(self.m), max(self.n))
        return Case(m, n, max(self.batch), widest)

    def largest_bytes(self) -> int:
        """The estimated peak memory of the largest point (Case.case_bytes), kron aside."""
        return self.largest_case().case_bytes()

    def check(self, limits: Limits = Limits()) -> None:
        """Refuse, before any work, a sweep past ``limits``: its points or its largest case."""
        problems = []
        if self.points > limits.max_points:
            problems.append(f"it has {self.points:,} points, over the limit of "
                            f"{limits.max_points:,} points")
        big = self.largest_case()
        need = big.case_bytes()
        if need > limits.case_bytes:
            problems.append(f"its largest point (m={big.m}, n={big.n}, batch={big.batch}, "
                            f"{big.dtype}) needs about {need / MiB:,.0f} MiB, over the "
                            f"memory budget of {limits.case_bytes / MiB:,.0f} MiB")
        if problems:
            raise GradlabError("sweep refused: " + "; and ".join(problems))

    def groups(self):
        """(m, n, batch, scale, seed) → the cases drawn from those inputs, in run order."""
        for (m, n), batch, scale, seed in itertools.product(
                self.sizes(), self.batch, self.scales, self.seeds):
            yield (m, n, batch, scale, seed), [
                Case(m, n, batch, dtype, eps, placement, scale, seed)
                for dtype, eps, placement in itertools.product(
                    self.dtypes, self.eps, self.placements)]

    def cases(self) -> tuple[Case, ...]:
        """Every case, in run order (each runs once per variant)."""
        return tuple(case for _, cases in self.groups() for case in cases)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_members(name: str, values: tuple, allowed: tuple) -> None:
    """``values`` is not empty and each is one of ``allowed``, or a GradlabError
    naming ``name``."""
    if not values:
        raise GradlabError(f"{name} must have at least one value (got ())")
    for value in values:
        if value not in allowed:
            raise GradlabError(f"{name}: each must be one of {', '.join(allowed)} "
                               f"(got {value!r})")


def check_device(device: str) -> None:
    """cpu, or cuda where torch sees a GPU; a clear refusal otherwise."""
    if device == "cpu":
        return
    if device == "cuda" or (isinstance(device, str) and device.startswith("cuda:")):
        if not torch.cuda.is_available():
            raise GradlabError(f"device {device}: no CUDA GPU is available here "
                               "(torch.cuda.is_available() is False); use cpu")
        return
    raise GradlabError(f"device must be cpu or cuda (got {device!r})")


def _failed_row(case: Case, variant: str, why: str) -> dict:
    """The row of a point that could not run: its case, NaN numbers, the reason."""
    row = {name: schema.MISSING[kind] for name, (kind, _, _) in schema.COLUMNS.items()}
    row.update(case.to_row(), variant=variant, error=why)
    return row


def _run_point(case: Case, variant: str, methods, limits: Limits, device: str,
               inputs: Inputs, reference):
    """(row, reference) of one point; a point that raises becomes a row saying so."""
    try:
        check = run_check(case, methods, None if variant == "none" else variant, limits,
                          kron_over_budget="skip", reference=reference, device=device,
                          inputs=inputs)
    except (GradlabError, RuntimeError, MemoryError, ArithmeticError) as exc:
        return _failed_row(case, variant, f"{type(exc).__name__}: {exc}"), reference
    row = check.to_row()
    row["error"] = ""
    return row, check.reference


def run_sweep(sweep: Sweep, limits: Limits = Limits(), progress: Progress | None = None,
              cancel: Cancel | None = None, device: str = "cpu") -> pd.DataFrame:
    """Run every point of ``sweep``; one row per point (see gradlab/schema.py).

    Refuses (GradlabError) before any work a sweep past ``limits`` or a device
    that is not there. ``progress(done, total, elapsed_seconds)`` is called
    after each point; ``cancel()`` is polled before each point, and when it
    returns True the rows so far are returned (``frame.attrs["complete"]`` is
    False then). Deterministic: the same sweep gives the same numbers.
    """
    sweep.check(limits)
    check_device(device)
    total = sweep.points
    stamp = provenance(device)
    rows: list[dict] = []
    start = time.perf_counter()
    cancelled = False
    for (m, n, batch, scale, seed), cases in sweep.groups():
        if cancelled:
            break
        base = None  # float64 draws, once per group, when first needed
        rounded: dict[str, Inputs] = {}
        for case in cases:
            if cancel is not None and cancel():
                cancelled = True
                break
            if base is None:
                base = draw(m, n, batch, seed, scale)
            if case.dtype not in rounded:
                rounded.clear()  # one dtype at a time: bounded memory
                rounded[case.dtype] = base.to(dtype_info(case.dtype).torch_dtype).on(device)
            r = rounded[case.dtype]
            # ε is an input too: as case_inputs does, it is a float64 tensor rounded to the dtype.
            eps = torch.tensor(case.eps, dtype=torch.float64).to(r.dtype).to(r.W.device)
            inputs = Inputs(r.W, r.X, r.g, r.b, eps)
            reference = None  # computed by the first variant, shared by the others
            for i, variant in enumerate(sweep.variants):
                if i and cancel is not None and cancel():
                    cancelled = True
                    break
                row, reference = _run_point(case, variant, sweep.methods, limits, device,
                                            inputs, reference)
                row.update(stamp)
                rows.append(row)
                if progress is not None:
                    progress(len(rows), total, time.perf_counter() - start)
            if cancelled:
                break
    frame = schema.to_frame(rows)
    frame.attrs["complete"] = len(rows) == total
    return frame


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def cache_key(sweep: Sweep, limits: Limits, device: str) -> tuple:
    """What a cached sweep is keyed by: the frozen sweep, the limits, the device, and the
    versions and thread count that could change its numbers."""
    return (sweep, limits, device, __version__, torch.__version__, torch.get_num_threads())


def cached_sweep(sweep: Sweep, limits: Limits = Limits(), device: str = "cpu",
                 progress: Progress | None = None, cancel: Cancel | None = None
                 ) -> pd.DataFrame:
    """``run_sweep``, remembered in this process (the last 16 complete sweeps).

    Asked again with an equal key (see ``cache_key``) it returns a copy of the
    first result at once, without calling ``progress``. A cancelled sweep is
    not remembered.
    """
    key = cache_key(sweep, limits, device)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key].copy()
    frame = run_sweep(sweep, limits, progress, cancel, device)
    if frame.attrs.get("complete"):
        with _CACHE_LOCK:
            _CACHE[key] = frame.copy()
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return frame


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
