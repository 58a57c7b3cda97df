"""The Sweep page's pure part: the grid's widgets as text lists (``SweepForm``, which
reads back as a frozen ``Sweep``), the chart's widgets (``SweepView``) and the filters
they offer. No Streamlit here; the page (views/sweep.py) stays thin. Both configs
round-trip through the URL (dashboard/urlstate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from gradlab.core.lists import list_text, parse_list
from gradlab.sweep.grid import Sweep

#: The main column's width at 1024 px with the sidebar open, about (px).
PLAN_PX = 540


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


def csv_name(sweep: Sweep) -> str:
    """The CSV's file name, saying which sweep it holds: its sizes, dtypes and points,
    e.g. ``gradlab-sweep-mn2-4096-float32-bfloat16-432pts.csv``."""
    sizes = sweep.sizes()
    ms, ns = [m for m, _ in sizes], [n for _, n in sizes]
    span = (f"mn{min(ms)}-{max(ms)}" if sweep.dims
            else f"m{min(ms)}-{max(ms)}-n{min(ns)}-{max(ns)}")
    return f"gradlab-sweep-{span}-{'-'.join(sweep.dtypes)}-{sweep.points}pts.csv"
