"""The ε study: what ε does, by value × placement × activation scale, per dtype.

For each point it records the exact gradient's magnitude (max |dL/dW| of the
reference from the rounded inputs) and each method's error, and flags what
goes wrong in a narrow dtype:

- ``ε rounds to 0``: ε > 0 is not representable (float16: 1e-8, 1e-12);
- ``u underflows to 0``: every a² underflows at a tiny activation scale;
- ``backward NaN`` / ``backward inf``: a method's dL/dW is not finite
  (float16 at scale 1e-4: NaN for ε ≤ 1e-8, inf from autograd at ε = 1e-6).

The points run through the sweep engine (``gradlab.sweep.run_sweep``), so the
table is the same rows a sweep exports.

The charts draw flags as shaped marks in a band above the data, so a point
whose error cannot sit on a log axis is still visible, not a dropped row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import torch

from gradlab.case import PLACEMENTS, Limits
from gradlab.dtypes import DTYPE_COLORS, DTYPE_NAMES, dtype_info
from gradlab.errors import GradlabError
from gradlab.finite_diff import MAX_ENTRIES, StepStudy
from gradlab.gradients import METHODS
from gradlab.sweep import Sweep, check_members, run_sweep

EPS_VALUES: tuple[float, ...] = (0.0, 1e-12, 1e-8, 1e-6, 1e-5, 1e-3)
SCALES: tuple[float, ...] = (1.0, 1e-2, 1e-4)
#: Flag kinds, in legend order, with their mark shapes.
FLAGS: dict[str, str] = {
    "ε rounds to 0": "triangle-down",
    "u underflows to 0": "square",
    "backward NaN": "cross",
    "backward inf": "diamond",
}
#: One dash per method (solid, dashed, dotted).
METHOD_DASHES = [[1, 0], [6, 3], [2, 2]]
#: The study's largest point count (each point is one run_check).
MAX_POINTS = 2000
#: The largest m = n the page offers for the ε study (144 checks per run).
MAX_DIM = 256


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
                raise GradlabError(f"{name} must hold at least one value (got none)")
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
    and provenance), plus ``eps_label``, ``eps_rounds_to_zero``, ``u_underflow``
    and ``{method}_backward`` ("NaN", "inf" or "": what the non-finite entries
    of dL/dW were). Refused (GradlabError) before any work past ``limits``."""
    frame = run_sweep(study.sweep(), limits)
    frame["eps_label"] = [eps_label(e) for e in frame["eps"]]
    frame["eps_rounds_to_zero"] = [eps_rounds_to_zero(e, d)
                                   for e, d in zip(frame["eps"], frame["dtype"])]
    frame["u_underflow"] = frame["notes"].fillna("").str.contains("u underflows")
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
                         "detail": f"every a² underflows in {point['dtype']}: u = 0"})
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
        part["status"] = frame.get(f"{method}_status", pd.Series("baseline", frame.index))
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=[*keys, "method", "value", "err_u", "status"])


def _dtype_color() -> alt.Color:
    return alt.Color("dtype:N", title="dtype", sort=list(DTYPE_NAMES),
                     scale=alt.Scale(domain=list(DTYPE_COLORS),
                                     range=list(DTYPE_COLORS.values())))


def flag_levels(values: pd.Series) -> dict[str, float]:
    """The y of each flag kind: a band above the largest finite value, its rows
    spaced by a tenth of the data's log range (at least half a decade), so the
    marks stay apart however many decades the axis spans."""
    finite = values[np.isfinite(values) & (values > 0)]
    top = float(finite.max()) if not finite.empty else 1.0
    bottom = float(finite.min()) if not finite.empty else 1.0
    step = max(0.5, (math.log10(top) - math.log10(bottom)) / 10)
    base = math.log10(top) + step
    return {flag: 10.0 ** (base + step * k) for k, flag in enumerate(FLAGS)}


def _eps_order(frame: pd.DataFrame) -> list[str]:
    pairs = sorted(set(zip(frame["eps"], frame["eps_label"])))
    return [label for _, label in pairs]


def _combined(values: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """Values and flags in one frame (a faceted layer chart shares one data set)."""
    levels = flag_levels(values["value"])
    flags = flags.assign(layer="flag", value=flags["flag"].map(levels))
    drawable = values[np.isfinite(values["value"]) & (values["value"] > 0)]
    return pd.concat([drawable.assign(layer="value"), flags], ignore_index=True)


def _study_chart(data: pd.DataFrame, order: list[str], y_title: str, value_layer,
                 width: int, height: int) -> alt.FacetChart:
    x = alt.X("eps_label:O", title="ε", sort=order, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title=y_title, scale=alt.Scale(type="log"),
              axis=alt.Axis(format="~e", grid=True))
    flags = alt.Chart().transform_filter(alt.datum.layer == "flag").mark_point(
        size=110, filled=True, opacity=0.95, stroke="black", strokeWidth=0.6).encode(
        x=x, y=y, xOffset=alt.XOffset("dtype:N", sort=list(DTYPE_NAMES)),
        color=_dtype_color(),
        shape=alt.Shape("flag:N", title="flag", sort=list(FLAGS),
                        scale=alt.Scale(domain=list(FLAGS), range=list(FLAGS.values()))),
        tooltip=[alt.Tooltip("flag:N"), alt.Tooltip("dtype:N"),
                 alt.Tooltip("eps_label:N", title="ε"), alt.Tooltip("scale:Q"),
                 alt.Tooltip("eps_placement:N", title="placement"),
                 alt.Tooltip("detail:N")])
    values = value_layer(alt.Chart().transform_filter(alt.datum.layer == "value"), x, y)
    return (alt.layer(values, flags, data=data)
            .properties(width=width, height=height)
            .facet(row=alt.Row("eps_placement:N", title="ε placement",
                               sort=list(PLACEMENTS)),
                   column=alt.Column("scale:Q", title="activation scale (W × scale)",
                                     sort="descending", header=alt.Header(format="~e")))
            .resolve_scale(x="shared", y="shared"))


def error_chart(frame: pd.DataFrame, methods=METHODS, width: int = 230,
                height: int = 220) -> alt.FacetChart:
    """Each method's relative error against ε, per dtype (colour) and method
    (dash), one panel per placement × scale; flags above the data."""
    errors = error_frame(frame, methods)
    data = _combined(errors, flag_frame(frame, methods))

    def lines(base, x, y):
        tooltip = [alt.Tooltip("method:N"), alt.Tooltip("dtype:N"),
                   alt.Tooltip("eps_label:N", title="ε"), alt.Tooltip("scale:Q"),
                   alt.Tooltip("eps_placement:N", title="placement"),
                   alt.Tooltip("value:Q", title="relative error", format=".3e"),
                   alt.Tooltip("err_u:Q", title="in units of u", format=".3g"),
                   alt.Tooltip("status:N", title="verdict")]
        line = base.mark_line(strokeWidth=1.8).encode(
            x=x, y=y, color=_dtype_color(),
            strokeDash=alt.StrokeDash("method:N", title="method", sort=list(METHODS),
                                      scale=alt.Scale(domain=list(METHODS),
                                                      range=METHOD_DASHES)),
            detail="method:N", tooltip=tooltip)
        points = base.mark_point(filled=True, size=22, opacity=0.9).encode(
            x=x, y=y, color=_dtype_color(), detail="method:N", tooltip=tooltip)
        return alt.layer(line, points)

    return _study_chart(data, _eps_order(frame), "relative error of dL/dW", lines,
                        width, height)


def magnitude_chart(frame: pd.DataFrame, width: int = 230, height: int = 200) -> alt.FacetChart:
    """The exact gradient's magnitude max |dL/dW| against ε per dtype, one
    panel per placement × scale; flags above the data."""
    values = frame[["dtype", "eps", "eps_label", "eps_placement", "scale"]].copy()
    values["value"] = frame["ref_max_abs"].astype(float)
    data = _combined(values, flag_frame(frame))

    def lines(base, x, y):
        return base.mark_line(point=True, strokeWidth=1.8).encode(
            x=x, y=y, color=_dtype_color(),
            tooltip=[alt.Tooltip("dtype:N"), alt.Tooltip("eps_label:N", title="ε"),
                     alt.Tooltip("scale:Q"),
                     alt.Tooltip("eps_placement:N", title="placement"),
                     alt.Tooltip("value:Q", title="max |dL/dW| (exact)", format=".3e")])

    return _study_chart(data, _eps_order(frame), "max |dL/dW| (exact)", lines, width, height)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The flagged points as a table, one row per flag (for the page)."""
    return flag_frame(frame).drop(columns=["eps"]).rename(columns={
        "eps_label": "ε", "eps_placement": "placement"})


@dataclass(frozen=True)
class EpsilonView:
    """Every widget of the Epsilon page: the ε study (m = n, seed, dtypes,
    methods) and the finite-difference step study (fd_m = fd_n, fd_eps)."""

    m: int = 16
    seed: int = 0
    dtypes: tuple[str, ...] = DTYPE_NAMES
    methods: tuple[str, ...] = METHODS
    fd_m: int = 8
    fd_eps: float = 0.0

    def __post_init__(self):
        if isinstance(self.m, int) and not isinstance(self.m, bool) and self.m > MAX_DIM:
            raise GradlabError(f"m must be ≤ {MAX_DIM} for the ε study (got {self.m})")
        fd_max = math.isqrt(MAX_ENTRIES)
        if isinstance(self.fd_m, int) and not isinstance(self.fd_m, bool) and self.fd_m > fd_max:
            raise GradlabError(f"fd_m must be ≤ {fd_max} for the finite-difference study "
                               f"(got {self.fd_m})")
        self.study()
        self.step_study()

    def study(self) -> EpsStudy:
        return EpsStudy(m=self.m, n=self.m, dtypes=self.dtypes, methods=self.methods,
                        seed=self.seed)

    def step_study(self) -> StepStudy:
        return StepStudy(m=self.fd_m, n=self.fd_m, dtypes=self.dtypes, eps=self.fd_eps,
                         seed=self.seed)
