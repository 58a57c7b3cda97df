"""The Sweep, Precision and Compare pages' configs, and the list syntax of their
text widgets: pure (no Streamlit), so pages stay thin and the parsing is
testable on its own. A config round-trips through the URL (dashboard/urlstate.py).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.lists import list_text, parse_list, value_label
from gradlab.core.validate import finite_float, positive_int
from gradlab.problems.seed.gradients import METHODS
from gradlab.studies.epsilon import EpsStudy
from gradlab.studies.finite_diff import MAX_ENTRIES, StepStudy
from gradlab.sweep.grid import Sweep

# ------------------------------------------------------------ list widgets
# parse_list, list_text and value_label live in gradlab/core/lists.py (the CLI reads
# the same syntax).

def labels(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` as labels, in sorted value order."""
    if column not in frame:
        return []
    return [value_label(v) for v in sorted(frame[column].dropna().unique().tolist())]


def keep_rows(frame: pd.DataFrame, picks: dict[str, str]) -> pd.DataFrame:
    """The rows whose ``column`` has the label ``picks[column]`` ("" keeps all)."""
    for column, label in picks.items():
        if label and column in frame:
            frame = frame[frame[column].map(value_label) == label]
    return frame


def size_text(nbytes: int) -> str:
    """Bytes for a caption: 12.0 KiB, 10.1 MiB, 7,451 GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1024:,.1f} KiB"


def short_number(value: float) -> str:
    """A number for a menu or a title: "0", else the shortest text that reads back as
    the same float ("0.123456", "1e-05"), never a rounded "1e-01"."""
    text = repr(float(value) + 0.0)  # + 0.0: no "-0"
    return text.removesuffix(".0")


# ------------------------------------------------------------------ Sweep

@dataclass(frozen=True)
class SweepForm:
    """The grid's widgets: numbers as text lists, choices as tuples."""

    dims: str
    m: str
    n: str
    batch: str
    dtypes: tuple[str, ...]
    eps: str
    placements: tuple[str, ...]
    scales: str
    seeds: str
    variants: tuple[str, ...]
    methods: tuple[str, ...]

    @classmethod
    def of(cls, sweep: Sweep) -> SweepForm:
        return cls(dims=list_text(sweep.dims), m=list_text(sweep.m), n=list_text(sweep.n),
                   batch=list_text(sweep.batch), dtypes=sweep.dtypes,
                   eps=list_text(sweep.eps), placements=sweep.placements,
                   scales=list_text(sweep.scales), seeds=list_text(sweep.seeds),
                   variants=sweep.variants, methods=sweep.methods)

    def sweep(self) -> Sweep:
        """The frozen Sweep, or a GradlabError naming the field."""
        return Sweep(dims=parse_list(self.dims, int, "dims"),
                     m=parse_list(self.m, int, "m"), n=parse_list(self.n, int, "n"),
                     batch=parse_list(self.batch, int, "batch"), dtypes=self.dtypes,
                     eps=parse_list(self.eps, float, "eps"), placements=self.placements,
                     scales=parse_list(self.scales, float, "scales"),
                     seeds=parse_list(self.seeds, int, "seeds"), variants=self.variants,
                     methods=self.methods)


#: View field → the result column it filters ("" keeps every value, aggregated).
SWEEP_PICKS = {"pick_eps": "eps", "pick_placement": "eps_placement",
               "pick_variant": "variant", "pick_scale": "scale", "pick_batch": "batch"}
NO_FACET = "none"


@dataclass(frozen=True)
class SweepView:
    """How the results are drawn: the chart's widgets."""

    method: str = "structured"
    x: str = "n"
    agg: str = "max"
    rows: str = "eps_placement"
    columns: str = "eps"
    pick_eps: str = ""
    pick_placement: str = ""
    pick_variant: str = ""
    pick_scale: str = ""
    pick_batch: str = ""


# -------------------------------------------------------------- Precision

#: The Precision page runs and draws the sizes up to 16 first, then those up to 64,
#: then each larger size (in bfloat16 and float16, kron at m = n = 512 alone takes
#: seconds). On the default view the first part is 48 of the 108 points.
FIRST_DIMS = (16, 64)


@dataclass(frozen=True)
class PrecisionView:
    """The Precision page's widgets: the sizes and seeds of its sweep, and the drawing."""

    dims: str = "2..512"
    seeds: str = "0, 1, 2"
    eps: float = 0.0
    placement: str = "inside"
    dtypes: tuple[str, ...] = DTYPE_NAMES
    methods: tuple[str, ...] = METHODS
    agg: str = "max"
    units: str = "relative"

    def sweep(self) -> Sweep:
        """All dtypes × the sizes × the seeds, one ε: a GradlabError names a bad field."""
        return Sweep(dims=parse_list(self.dims, int, "dims"), dtypes=self.dtypes,
                     eps=(self.eps,), placements=(self.placement,),
                     seeds=parse_list(self.seeds, int, "seeds"), methods=self.methods)

    def parts(self) -> tuple[Sweep, ...]:
        """The sweep in the order the page draws it: the sizes up to each of
        FIRST_DIMS together (the first part quick: a first chart within seconds),
        then each larger size on its own."""
        whole = self.sweep()
        dims, groups, low = sorted(whole.dims), [], 0
        for high in FIRST_DIMS:
            group = tuple(d for d in dims if low < d <= high)
            if group:
                groups.append(group)
            low = high
        groups += [(d,) for d in dims if d > low]
        return tuple(dataclasses.replace(whole, dims=group) for group in groups)


# ---------------------------------------------------------------- Compare

COMPARE_PICKS = {field: SWEEP_PICKS[field] for field in ("pick_eps", "pick_placement",
                                                          "pick_variant")}


@dataclass(frozen=True)
class CompareView:
    """The Compare page's drawing widgets (the uploads themselves are not in the URL)."""

    method: str = "structured"
    x: str = "n"
    agg: str = "max"
    error_method: str = "structured"
    pick_eps: str = ""
    pick_placement: str = ""
    pick_variant: str = ""


# ---------------------------------------------------------------- Epsilon

#: The largest m = n the page offers for the ε study (144 checks per run).
MAX_DIM = 256


@dataclass(frozen=True)
class EpsilonView:
    """Every widget of the Epsilon page: the ε study (m = n, seed, dtypes,
    methods) and the finite-difference step study (fd_m = fd_n, fd_eps)."""

    #: Typed into text boxes and parsed by gradlab (a browser number box reads 1e23 as 1).
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("m", "seed", "fd_m")

    m: int = 16
    seed: int = 0
    dtypes: tuple[str, ...] = DTYPE_NAMES
    methods: tuple[str, ...] = METHODS
    fd_m: int = 8
    fd_eps: float = 0.0

    def __post_init__(self):
        # Each field is checked here under its own name (the studies would call
        # fd_m "m"), before the studies check the rest.
        positive_int("m", self.m)
        if self.m > MAX_DIM:
            raise GradlabError(f"m must be ≤ {MAX_DIM} for the ε study (got {self.m})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GradlabError(f"seed must be an integer ≥ 0 (got {self.seed!r})")
        positive_int("fd_m", self.fd_m)
        fd_max = math.isqrt(MAX_ENTRIES)
        if self.fd_m > fd_max:
            raise GradlabError(f"fd_m must be ≤ {fd_max} for the finite-difference study "
                               f"(got {self.fd_m})")
        finite_float("fd_eps", self.fd_eps, minimum=0.0)
        self.study()
        self.step_study()

    def study(self) -> EpsStudy:
        return EpsStudy(m=self.m, n=self.m, dtypes=self.dtypes, methods=self.methods,
                        seed=self.seed)

    def step_study(self) -> StepStudy:
        return StepStudy(m=self.fd_m, n=self.fd_m, dtypes=self.dtypes, eps=self.fd_eps,
                         seed=self.seed)
