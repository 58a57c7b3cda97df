"""A sweep's grid: cases × bug-zoo variants, validated and counted before any work.

A point is one Case × one variant; ``groups`` lists the cases that share one
draw of the inputs (see gradlab/sweep/runner.py).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass

from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB, over_time
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.cost import case_seconds
from gradlab.problems.seed.gradients import METHODS, VARIANTS

__all__ = ["check_members", "DEFAULT_DIMS", "Sweep", "VARIANT_NAMES"]

#: Sweep field → the Case field that validates each of its values.
_AXES = {"m": "m", "n": "n", "dims": "m", "batch": "batch", "dtypes": "dtype", "eps": "eps",
         "placements": "eps_placement", "scales": "scale", "seeds": "seed"}
_FLOATS = ("eps", "scales")
VARIANT_NAMES = ("none", *VARIANTS)
DEFAULT_DIMS = tuple(2**k for k in range(1, 13))  # 2, 4, …, 4096


@dataclass(frozen=True)
class Sweep:
    """A grid: every combination of the values of each field.

    Sizes are ``m`` × ``n`` (a Cartesian product) or, when ``dims`` is not
    empty, paired m = n over ``dims``; then ``dims`` wins and m, n are set to ().
    ``variants`` are bug-zoo names, "none" meaning the correct derivation.
    ``methods``: autograd always runs (it is the yardstick); kron is skipped,
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
                raise GradlabError(f"{name} must be a tuple of values (got {value!r})", name)
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
                raise GradlabError(f"{name} must have at least one value (got ())", name)
            for value in values:
                try:
                    Case(**{"m": 2, "n": 3, case_field: value})
                except GradlabError as exc:  # "m must be ≥ 1 …" → "dims: each must be ≥ 1 …"
                    raise GradlabError(f"{name}: each{exc.detail}", name) from None
        check_members("variants", self.variants, VARIANT_NAMES)
        check_members("methods", self.methods, METHODS)
        for name in (*_AXES, "variants", "methods"):
            values = getattr(self, name)
            repeated = sorted(str(v) for v, count in Counter(values).items() if count > 1)
            if repeated:
                raise GradlabError(f"{name} repeats {', '.join(repeated)}: each value once", name)

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
        """Refuse, before any work, a sweep past ``limits``: its points or its largest
        case (then, on a ``dims`` grid, naming ``dims`` and the largest of its sizes
        that fits), or its estimated time."""
        problems = []
        if self.points > limits.max_points:
            problems.append(f"it has {self.points:,} points, over the limit of "
                            f"{limits.max_points:,} points")
        big = self.largest_case()
        need = big.case_bytes()
        too_big = need > limits.case_bytes
        if too_big:
            problems.append(f"its largest point (m={big.m}, n={big.n}, batch={big.batch}, "
                            f"{big.dtype}) needs about {need / MiB:,.0f} MiB, over the "
                            f"memory budget of {limits.case_bytes / MiB:,.0f} MiB")
        if not problems:  # the time of every point, once the sizes are known to fit
            problems += [why for why in [over_time(self.seconds(limits), limits)] if why]
        if not problems:
            return
        if too_big and self.dims:
            raise GradlabError(f"dims reach m = n = {big.m:,}, too large: "
                               + "; and ".join(problems) + self._largest_fitting(limits),
                               "dims")
        raise GradlabError("sweep refused: " + "; and ".join(problems))

    def _largest_fitting(self, limits: Limits) -> str:
        """"; the largest of its sizes that fits is m = n = d", or that none does."""
        big = self.largest_case()
        fits = [d for d in self.dims
                if Case(d, d, big.batch, big.dtype).case_bytes() <= limits.case_bytes]
        if not fits:
            return "; none of its sizes fits"
        return f"; the largest of its sizes that fits is m = n = {max(fits):,}"

    def seconds(self, limits: Limits = Limits()) -> float:
        """The estimated time of the whole sweep here (``problems.seed.cost``)."""
        return case_seconds(self.cases(), limits, self.methods, len(self.variants))

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
        raise GradlabError(f"{name} must have at least one value (got ())", name)
    for value in values:
        if value not in allowed:
            raise GradlabError(f"{name}: each must be one of {', '.join(allowed)} "
                               f"(got {value!r})", name)
