"""The ε study: what ε does, by value × placement × activation scale, per dtype.

For each point it records the exact gradient's magnitude (max |dL/dW| of the
reference from the rounded inputs) and each method's error, and flags what
goes wrong in a narrow dtype:

- ``ε rounds to 0``: ε > 0 is not representable (float16: 1e-8, 1e-12);
- ``u underflows to 0``: every a² underflows at a tiny activation scale;
- ``backward NaN`` / ``backward inf``: a method's dL/dW is not finite
  (float16 at scale 1e-4: NaN for ε ≤ 1e-8, inf from autograd at ε = 1e-6).

The points run through the sweep engine (``gradlab.sweep.runner.run_sweep``), so the
table is the same rows a sweep exports.

The charts are in gradlab/charts/epsilon.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.problems.seed.case import PLACEMENTS
from gradlab.problems.seed.gradients import METHODS
from gradlab.sweep.grid import Sweep, check_members
from gradlab.sweep.runner import run_sweep

__all__ = [
    "backward_nonfinite", "eps_label", "eps_rounds_to_zero", "eps_study", "EPS_VALUES", "EpsStudy",
    "error_frame", "flag_frame", "FLAGS", "MAX_POINTS", "SCALES", "summary"
]

EPS_VALUES: tuple[float, ...] = (0.0, 1e-12, 1e-8, 1e-6, 1e-5, 1e-3)
SCALES: tuple[float, ...] = (1.0, 1e-2, 1e-4)
#: Flag kinds, in legend order, with their mark shapes.
FLAGS: dict[str, str] = {
    "ε rounds to 0": "triangle-down",
    "u underflows to 0": "square",
    "backward NaN": "cross",
    "backward inf": "diamond",
}
#: The study's largest point count (each point is one run_check).
MAX_POINTS = 2000
def eps_label(eps: float) -> str:
    return "0" if eps == 0 else f"{eps:.0e}".replace("e-0", "e-").replace("e+0", "e+")


def eps_rounds_to_zero(eps: float, dtype: str) -> bool:
    """ε > 0 that the dtype stores as 0."""
    return eps > 0 and float(torch.tensor(eps, dtype=dtype_info(dtype).torch_dtype)) == 0


@dataclass(frozen=True)
class EpsStudy:
    """The grid: ε values × placements × activation scales × dtypes, on one
    m×n layer (m = n) and one seed."""

    m: int = 16
    n: int = 16
    batch: int = 1
    dtypes: tuple[str, ...] = DTYPE_NAMES
    eps: tuple[float, ...] = EPS_VALUES
    placements: tuple[str, ...] = PLACEMENTS
    scales: tuple[float, ...] = SCALES
    methods: tuple[str, ...] = METHODS
    seed: int = 0

    def __post_init__(self):
        check_members("dtypes", self.dtypes, DTYPE_NAMES)
        check_members("placements", self.placements, PLACEMENTS)
        check_members("methods", self.methods, METHODS)
        for name in ("eps", "scales"):
            if not getattr(self, name):
                raise GradlabError(f"{name} must hold at least one value (got none)", name)
        self.sweep()  # validates every value, as a sweep does
        if self.points > MAX_POINTS:
            raise GradlabError(f"the ε study has {self.points} points, over its limit of "
                               f"{MAX_POINTS}")

    @property
    def points(self) -> int:
        return len(self.dtypes) * len(self.eps) * len(self.placements) * len(self.scales)

    def sweep(self) -> Sweep:
        """The study as a sweep of the sweep engine (one seed, the correct derivation)."""
        return Sweep(m=(self.m,), n=(self.n,), batch=(self.batch,), dtypes=self.dtypes,
                     eps=self.eps, placements=self.placements, scales=self.scales,
                     seeds=(self.seed,), variants=("none",), methods=self.methods)


def backward_nonfinite(abs_err: float) -> str:
    """"NaN" if a gradient had a NaN entry, "inf" if it had ±inf and no NaN, else "".

    Read from the row's max |grad − ref|: a NaN entry makes it NaN; an
    infinite entry, and no NaN, makes it inf.
    """
    if math.isnan(abs_err):
        return "NaN"
    return "inf" if math.isinf(abs_err) else ""


def eps_study(study: EpsStudy = EpsStudy(), limits: Limits = Limits()) -> pd.DataFrame:
    """One row per point from the sweep engine (``run_sweep``: ``Check.to_row()``
    and provenance, whose ``u_underflow`` counts the tokens whose u is 0), plus
    ``eps_label``, ``eps_rounds_to_zero`` and ``{method}_backward`` ("NaN", "inf"
    or "": what the non-finite entries of dL/dW were). Refused (GradlabError)
    before any work past ``limits``."""
    frame = run_sweep(study.sweep(), limits)
    frame["eps_label"] = [eps_label(e) for e in frame["eps"]]
    frame["eps_rounds_to_zero"] = [eps_rounds_to_zero(e, d)
                                   for e, d in zip(frame["eps"], frame["dtype"])]
    for method in study.methods:
        bad = frame[f"{method}_nonfinite"] > 0
        frame[f"{method}_backward"] = [backward_nonfinite(err) if b else ""
                                       for err, b in zip(frame[f"{method}_abs_err"], bad)]
    return frame


def flag_frame(frame: pd.DataFrame, methods=METHODS) -> pd.DataFrame:
    """One row per flag raised: dtype, eps, eps_label, eps_placement, scale, flag, detail."""
    keys = ["dtype", "eps", "eps_label", "eps_placement", "scale"]
    rows = []
    for _, point in frame.iterrows():
        base = {k: point[k] for k in keys}
        if point["eps_rounds_to_zero"]:
            rows.append({**base, "flag": "ε rounds to 0",
                         "detail": f"ε = {point['eps']:g} is stored as 0 in {point['dtype']}"})
        if point["u_underflow"]:
            rows.append({**base, "flag": "u underflows to 0",
                         "detail": f"every a² underflows in {point['dtype']}: u = 0 for "
                                   f"{int(point['u_underflow'])} of {int(point['batch'])} "
                                   f"tokens"})
        for kind in ("NaN", "inf"):
            bad = [f"{m} ({int(point[f'{m}_nonfinite'])} non-finite)" for m in methods
                   if point.get(f"{m}_backward") == kind]
            if bad:
                rows.append({**base, "flag": f"backward {kind}",
                             "detail": f"dL/dW has {kind} entries: " + ", ".join(bad)})
    return pd.DataFrame(rows, columns=[*keys, "flag", "detail"])


def error_frame(frame: pd.DataFrame, methods=METHODS) -> pd.DataFrame:
    """Each method's relative error (÷ max|ref|) and err/u as long rows."""
    keys = ["dtype", "eps", "eps_label", "eps_placement", "scale"]
    parts = []
    for method in methods:
        if f"{method}_rel_err" not in frame:
            continue
        part = frame[keys].copy()
        part["method"] = method
        part["value"] = frame[f"{method}_rel_err"].astype(float)
        part["err_u"] = frame[f"{method}_err_u"].astype(float)
        part["status"] = frame.get(f"{method}_status", pd.Series("yardstick", frame.index))
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=[*keys, "method", "value", "err_u", "status"])


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The flagged points as a table, one row per flag (for the page)."""
    return flag_frame(frame).drop(columns=["eps"]).rename(columns={
        "eps_label": "ε", "eps_placement": "placement"})


