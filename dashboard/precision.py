"""The Precision page's pure part: its view config (the sizes and seeds of its sweep,
and the drawing), the order the sweep runs in, and the notes under its chart. No
Streamlit here; the page (views/precision.py) stays thin. The config round-trips
through the URL (dashboard/urlstate.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from gradlab.charts import sweep as charts
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.limits import MiB
from gradlab.core.lists import parse_list
from gradlab.problems.seed.gradients import METHODS
from gradlab.sweep.grid import Sweep

#: The Precision page runs and draws the sizes up to 16 first, then those up to 64,
#: then each larger size (in bfloat16 and float16, kron at m = n = 512 alone takes
#: seconds). On the default view the first part is 48 of the 108 points.
FIRST_DIMS = (16, 64)
EPS_CHOICES = (0.0, 1e-8, 1e-6, 1e-5, 1e-3)
UNITS = {"relative": "relative (÷ max|ref|)", "u": "in units of u"}
#: Each dtype's panel, sized so two fit the main column at 1024 px with the sidebar open.
PANEL_PX = 150


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


def error_notes(frame: pd.DataFrame, methods: tuple[str, ...], kron_bytes: int) -> list[str]:
    """What the error chart cannot draw, a sentence per method: the points where kron
    was skipped (past the ``kron_bytes`` budget), and each method's points that a log
    axis cannot hold."""
    notes = []
    for method in methods:
        ran = frame
        if method == "kron" and "kron_status" in frame:
            skipped = frame[frame["kron_status"] == "skipped"]
            ran = frame[frame["kron_status"] != "skipped"]
            if len(skipped):
                notes.append(f"kron did not run at {len(skipped)} point(s) from m = n = "
                             f"{skipped['m'].min():,} on: J = kron(I_m, xᵀ) would exceed the "
                             f"kron budget of {kron_bytes / MiB:,.0f} MiB.")
        notes.append(charts.undrawable(ran, f"{method}_rel_err").describe(f"{method}'s error"))
    return [n for n in notes if n]
