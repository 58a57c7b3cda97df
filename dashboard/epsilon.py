"""The Epsilon page's pure part: its view config (the ε study and the
finite-difference step study it runs) and the choices it offers. No Streamlit here;
the page (views/epsilon.py) stays thin. The config round-trips through the URL
(dashboard/urlstate.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.validate import finite_float, positive_int
from gradlab.problems.seed.gradients import METHODS
from gradlab.studies.epsilon import EpsStudy
from gradlab.studies.finite_diff import MAX_ENTRIES, StepStudy

#: The largest m = n the page offers for the ε study (144 checks per run).
MAX_DIM = 256
#: The finite-difference study's ε menu (a value from the URL joins it).
FD_EPS_CHOICES = (0.0, 1e-6, 1e-5, 1e-3)


@dataclass(frozen=True)
class EpsilonView:
    """Every widget of the Epsilon page: the ε study (m = n, seed, dtypes,
    methods) and the finite-difference step study (fd_m = fd_n, fd_eps)."""

    #: Typed into text boxes and parsed by gradlab (a browser number box reads 1e23 as 1).
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("m", "seed", "fd_m")
    #: Field → its widget's label: the page's one table for naming a field in an error.
    WIDGETS: ClassVar[dict[str, str]] = {"m": "m = n", "seed": "seed", "fd_m": "FD m = n"}

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
            raise GradlabError(f"m must be ≤ {MAX_DIM} for the ε study (got {self.m})", "m")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GradlabError(f"seed must be an integer ≥ 0 (got {self.seed!r})", "seed")
        positive_int("fd_m", self.fd_m)
        fd_max = math.isqrt(MAX_ENTRIES)
        if self.fd_m > fd_max:
            raise GradlabError(f"fd_m must be ≤ {fd_max} for the finite-difference study "
                               f"(got {self.fd_m})", "fd_m")
        finite_float("fd_eps", self.fd_eps, minimum=0.0)
        self.study()
        self.step_study()

    def study(self) -> EpsStudy:
        return EpsStudy(m=self.m, n=self.m, dtypes=self.dtypes, methods=self.methods,
                        seed=self.seed)

    def step_study(self) -> StepStudy:
        return StepStudy(m=self.fd_m, n=self.fd_m, dtypes=self.dtypes, eps=self.fd_eps,
                         seed=self.seed)
