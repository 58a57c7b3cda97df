"""Altair charts of sweep rows: pure functions, a DataFrame in, a chart out.

Every error axis is logarithmic, every mark carries a tooltip, and every dtype
keeps one colour (``style.DTYPE_COLORS``) on every chart. Points a log axis
cannot draw (0, NaN, ±inf) are left out of the marks and counted by
``undrawable`` so a page can say how many, instead of hiding them silently.

The frames are the rows of ``check.Check.to_row`` (one per point), as a sweep
returns them and as an exported CSV reads back. Rows that differ only in
parameters a chart does not encode (usually the seed) are aggregated with
``agg`` (max by default: the worst case).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from gradlab.charts.style import (
    DTYPE_COLORS,
    STATUS_SEVERITY,
    dtype_color,
    legend_at,
    log_axis,
    status_shape,
)
from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.core.errors import GradlabError
from gradlab.problems.seed.gradients import ANALYTIC, METHODS, VARIANTS

__all__ = [
    "aggregate", "AGGREGATES", "DIMENSIONS", "error_chart", "FACETS", "FILE_DASHES", "FILE_SHAPES",
    "float64_chart", "GUIDE_COLOR", "GUIDE_DASH", "GUIDES", "max_diff_chart", "METHOD_SHAPES",
    "overlay_chart", "OVERLAY_METRICS", "SHORT_DIMENSIONS", "TIP", "Undrawable", "undrawable",
    "VARIANT_DASHES", "VARIANT_ORDER"
]

#: x-axis choices: the column, and its axis title.
DIMENSIONS: dict[str, str] = {
    "n": "n (inputs: the length of each a = W x dot product)",
    "m": "m (outputs: the length of the mean in u)",
    "mn": "m·n (entries of W)",
}
#: Short axis titles, for small multiples where a long title would repeat.
SHORT_DIMENSIONS: dict[str, str] = {"n": "n (inputs)", "m": "m (outputs)", "mn": "m·n"}
AGGREGATES = ("max", "median", "min")
#: Columns that may split lines into facets (a page offers them as facets or filters).
FACETS: dict[str, str] = {
    "eps": "ε",
    "eps_placement": "ε placement",
    "variant": "variant",
    "scale": "scale",
    "batch": "batch",
}
#: Context lines on the Precision charts: one rounding (u), and the probabilistic
#: (√n·u) and worst-case (n·u) bounds of one length-n dot product.
GUIDES = ("u", "√n·u", "n·u")
GUIDE_DASH = {"u": [1, 0], "√n·u": [6, 3], "n·u": [2, 2]}
GUIDE_COLOR = "#777777"
#: One marker shape per method (the Precision panels are one dtype each).
METHOD_SHAPES = {"autograd": "circle", "structured": "square", "kron": "triangle-up"}
FILE_DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [12, 4], [1, 3]]
#: The variants in legend order (the correct derivation first, solid) and their dashes.
VARIANT_ORDER = ("none", *VARIANTS)
VARIANT_DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [12, 4], [1, 3]]
FILE_SHAPES = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down"]
#: Tooltip number format: three significant digits, exponent form.
TIP = ".3e"


@dataclass(frozen=True)
class Undrawable:
    """Points a log axis cannot show, by reason."""

    zero: int = 0
    nonfinite: int = 0
    missing: int = 0

    @property
    def total(self) -> int:
        return self.zero + self.nonfinite + self.missing

    def describe(self, what: str) -> str:
        """A plain sentence for a caption, or "" when every point is drawn."""
        parts = []
        if self.zero:
            parts.append(f"{self.zero} exactly 0")
        if self.nonfinite:
            parts.append(f"{self.nonfinite} infinite")
        if self.missing:
            parts.append(f"{self.missing} missing (NaN: not run, or overflow)")
        if not parts:
            return ""
        return f"Not drawn on the log axis, {what}: " + ", ".join(parts) + "."


def undrawable(df: pd.DataFrame, column: str) -> Undrawable:
    """Count the values of ``column`` a log axis cannot draw."""
    if column not in df or df.empty:
        return Undrawable()
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    return Undrawable(
        zero=int((values == 0).sum()),
        nonfinite=int(np.isinf(values).sum()),
        missing=int(np.isnan(values).sum()),
    )


def _log(field: str, title: str) -> dict:
    return dict(shorthand=f"{field}:Q", title=title, scale=alt.Scale(type="log"),
                axis=log_axis())


def _log_x(x: str, short: bool = False) -> alt.X:
    """Sizes on a log axis, as SI numbers (2, 20, 200, 2k)."""
    title = (SHORT_DIMENSIONS if short else DIMENSIONS).get(x, x)
    return alt.X(f"{x}:Q", title=title, scale=alt.Scale(type="log"),
                 axis=alt.Axis(format="~s", grid=True))


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise GradlabError(f"{name} must be one of {', '.join(map(str, choices))} "
                           f"(got {value!r})", name)


def _with_x(df: pd.DataFrame, x: str) -> pd.DataFrame:
    _check_choice("x", x, tuple(DIMENSIONS))
    if x == "mn":
        df = df.assign(mn=df["m"] * df["n"])
    return df


def _drawable(df: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(df[column], errors="coerce")
    return df.assign(**{column: values})[np.isfinite(values) & (values > 0)]


def aggregate(df: pd.DataFrame, value: str, by: Sequence[str], agg: str = "max",
              status: str | None = None) -> pd.DataFrame:
    """One row per ``by`` group: ``value`` aggregated over the drawable points,
    and ``points``, how many were aggregated. With ``status`` (a verdict column),
    also ``status``, the worst verdict among them (fail, degenerate, too-coarse,
    pass), and ``verdicts``, how many of each ("pass 2, fail 1")."""
    _check_choice("agg", agg, AGGREGATES)
    by = list(dict.fromkeys(by))
    missing = [c for c in [*by, value] if c not in df]
    if missing:
        raise GradlabError(f"the rows lack the column(s) {', '.join(missing)}")
    data = _drawable(df, value)
    extra = ["status", "verdicts"] if status else []
    if data.empty:
        return pd.DataFrame({**{c: [] for c in by}, value: [], "points": [],
                             **{c: [] for c in extra}})
    grouped = data.groupby(by, sort=True, dropna=False)
    out = grouped[value].agg(agg).to_frame(value)
    out["points"] = grouped.size()
    if status:
        statuses = (data[status] if status in data else pd.Series("", data.index)).fillna("")
        counted = statuses.groupby([data[c] for c in by], sort=True, dropna=False)
        out["status"] = counted.agg(_worst)
        out["verdicts"] = counted.agg(_tally)
    return out.reset_index()


def _worst(statuses: pd.Series) -> str:
    present = set(statuses)
    return next((s for s in STATUS_SEVERITY if s in present), "")


def _tally(statuses: pd.Series) -> str:
    counts = statuses.value_counts()
    return ", ".join(f"{s} {counts[s]}" for s in STATUS_SEVERITY if s in counts)


def _facet_fields(row: str | None, column: str | None) -> list[str]:
    for name, field in (("row", row), ("column", column)):
        if field is not None:
            _check_choice(name, field, tuple(FACETS))
    if row is not None and row == column:
        raise GradlabError(f"row and column facets must differ (both {row!r})", "row")
    return [f for f in (row, column) if f is not None]


def _facet_encoding(row: str | None, column: str | None, order: dict[str, list]) -> dict:
    enc = {}
    if row is not None:
        enc["row"] = alt.Row(f"{row}:N", title=FACETS[row], sort=order[row])
    if column is not None:
        enc["column"] = alt.Column(f"{column}:N", title=FACETS[column], sort=order[column])
    return enc


def _facet_labels(data: pd.DataFrame, facets: Sequence[str]) -> dict[str, list]:
    """Facet values as header labels (1e-06, not 0.000001), in value order; the data's
    facet columns are replaced by their labels."""
    order = {}
    for field in facets:
        values = sorted(data[field].unique().tolist())
        if field in ("eps", "scale"):
            labels = {v: f"{v:g}" for v in values}
            data[field] = data[field].map(labels)
            order[field] = [labels[v] for v in values]
        else:
            order[field] = [str(v) for v in values]
    return order


def _tooltip(x: str, value: str, title: str, extra: Sequence[str] = ()) -> list:
    return [alt.Tooltip("dtype:N"), alt.Tooltip(f"{x}:Q", title=x),
            *[alt.Tooltip(f"{f}:N", title=FACETS.get(f, f)) for f in extra],
            alt.Tooltip(f"{value}:Q", title=title, format=TIP),
            alt.Tooltip("points:Q", title="points aggregated")]


def max_diff_chart(df: pd.DataFrame, method: str = "structured", x: str = "n",
                   agg: str = "max", row: str | None = None, column: str | None = None,
                   width: int | None = None, height: int = 320) -> alt.Chart:
    """The seed's number across sizes: max |analytic − autograd| against the
    dimension, log-log; colour is the dtype, dash the bug-zoo variant (each
    variant its own line, never aggregated with another), and each point's shape
    its verdict (the worst among the points aggregated into it). ``row`` and
    ``column`` facet by a parameter (see FACETS)."""
    _check_choice("method", method, ANALYTIC)
    value = f"{method}_max_abs_diff"
    facets = _facet_fields(row, column)
    variants = "variant" in df and "variant" not in facets
    by = [x, "dtype", *(["variant"] if variants else []), *facets]
    data = aggregate(_with_x(df, x), value, by, agg, status=f"{method}_status")
    order = _facet_labels(data, facets)
    title = f"{agg} |{method} − autograd|"
    props = {"height": height}
    if width is not None:
        props["width"] = width
    faceted = bool(facets)
    side = "bottom" if faceted else "right"
    base = alt.Chart().encode(x=_log_x(x, short=faceted), y=alt.Y(**_log(value, title)),
                              color=dtype_color(legend=side, dtypes=data["dtype"],
                                                stacked=True))
    tooltip = [*_tooltip(x, value, title, facets),
               alt.Tooltip("status:N", title="worst verdict"),
               alt.Tooltip("verdicts:N", title="verdicts")]
    line_enc = {}
    if variants:
        names = [v for v in VARIANT_ORDER if v in set(data["variant"])]
        names += sorted(set(data["variant"]) - set(names))
        line_enc["strokeDash"] = alt.StrokeDash(
            "variant:N", title="variant", sort=names, legend=legend_at(side, stacked=True),
            scale=alt.Scale(domain=names, range=[VARIANT_DASHES[i % len(VARIANT_DASHES)]
                                                 for i in range(len(names))]))
        tooltip.insert(2, alt.Tooltip("variant:N"))
    lines = base.mark_line(strokeWidth=2).encode(**line_enc, tooltip=tooltip)
    points = base.mark_point(filled=True, size=60, opacity=0.95).encode(
        shape=status_shape(data["status"], legend=side, stacked=True), tooltip=tooltip,
        **({"detail": "variant:N"} if variants else {}))
    chart = alt.layer(lines, points, data=data).properties(**props)
    if facets:
        chart = chart.facet(**_facet_encoding(row, column, order))
    return chart


def _error_long(df: pd.DataFrame, methods: Sequence[str], x: str, agg: str,
                units: str) -> pd.DataFrame:
    """Errors of every method as long rows (method, dtype, x, value, kind="error")."""
    parts = []
    suffix = "err_u" if units == "u" else "rel_err"
    for method in methods:
        _check_choice("method", method, METHODS)
        col = f"{method}_{suffix}"
        if col not in df:
            continue
        part = aggregate(df, col, [x, "dtype"], agg).rename(columns={col: "value"})
        parts.append(part.assign(method=method, kind="error"))
    if not parts:
        return pd.DataFrame(columns=[x, "dtype", "value", "points", "method", "kind"])
    return pd.concat(parts, ignore_index=True)


def _guides(ns: Sequence[int], dtypes: Sequence[str], units: str,
            kinds: Sequence[str] = GUIDES) -> pd.DataFrame:
    """Context lines per dtype: u (one rounding), √n·u and n·u (Higham's probabilistic
    and worst-case bounds for the rounding of one length-n dot product), at each n;
    in units of u they are 1, √n and n. ``label`` names a guide at its largest n."""
    rows = []
    ns = sorted(set(int(v) for v in ns))
    factor = {"u": lambda n: 1.0, "√n·u": math.sqrt, "n·u": float}
    for dtype in dtypes:
        u = dtype_info(dtype).u if units == "relative" else 1.0
        for kind in kinds:
            for n in ns:
                rows.append({"n": n, "dtype": dtype, "kind": kind, "value": factor[kind](n) * u,
                             "label": kind if n == ns[-1] else ""})
    return pd.DataFrame(rows, columns=["n", "dtype", "kind", "value", "label"])


def _dtype_order(df: pd.DataFrame) -> list[str]:
    present = set(df["dtype"]) if "dtype" in df else set()
    return [d for d in DTYPE_NAMES if d in present]


def _guide_layers(x: alt.X, y: alt.Y) -> list[alt.Chart]:
    """The guides (rows of kind u, √n·u, n·u): grey lines, each named at its right end."""
    tooltip = [alt.Tooltip("kind:N", title="guide"), alt.Tooltip("n:Q"),
               alt.Tooltip("dtype:N"), alt.Tooltip("value:Q", title="value", format=TIP)]
    guides = alt.Chart().transform_filter(alt.datum.kind != "error")
    lines = guides.mark_line(strokeWidth=1.1, color=GUIDE_COLOR).encode(
        x=x, y=y, detail="kind:N", tooltip=tooltip,
        strokeDash=alt.StrokeDash("kind:N", legend=None,
                                  scale=alt.Scale(domain=list(GUIDES),
                                                  range=[GUIDE_DASH[g] for g in GUIDES])))
    labels = guides.transform_filter(alt.datum.label != "").mark_text(
        align="right", baseline="bottom", dx=-2, dy=-2, fontSize=10, color=GUIDE_COLOR
    ).encode(x=x, y=y, text="label:N", tooltip=tooltip)
    return [lines, labels]


def error_chart(df: pd.DataFrame, methods: Sequence[str] = METHODS, agg: str = "max",
                units: str = "relative", width: int = 200, height: int = 200,
                columns: int = 2) -> alt.FacetChart:
    """Each method's error against the reference (float64; longdouble for float64
    rows) across n: one panel per dtype (``columns`` to a row), one line per method
    (its marker shape) in the dtype's colour, and the dtype's own u, √n·u and n·u
    as grey context lines labelled at their right end. ``units``: "relative"
    (÷ max|ref|; each panel its own y range) or "u" (one shared range)."""
    _check_choice("units", units, ("relative", "u"))
    errors = _error_long(df, methods, "n", agg, units)
    dtypes = _dtype_order(df)
    guides = _guides(errors["n"] if not errors.empty else [], dtypes, units)
    data = pd.concat([errors, guides], ignore_index=True)
    title = "relative error (÷ max|ref|)" if units == "relative" else "error in units of u"
    x, y = _log_x("n", short=True), alt.Y(**_log("value", title))
    present = [m for m in methods if m in set(errors["method"])] or list(methods)
    shape = alt.Shape("method:N", title="method", sort=present,
                      scale=alt.Scale(domain=present,
                                      range=[METHOD_SHAPES[m] for m in present]),
                      legend=legend_at("bottom", stacked=True))
    tooltip = [alt.Tooltip("method:N"), *_tooltip("n", "value", title)]
    lines = (alt.Chart().transform_filter(alt.datum.kind == "error")
             .mark_line(strokeWidth=1.6, opacity=0.8)
             .encode(x=x, y=y, color=dtype_color(legend="bottom", dtypes=dtypes, stacked=True),
                     detail="method:N", tooltip=tooltip))
    points = (alt.Chart().transform_filter(alt.datum.kind == "error")
              .mark_point(filled=True, size=45, opacity=0.9)
              .encode(x=x, y=y, color=dtype_color(legend="bottom", dtypes=dtypes, stacked=True),
                      shape=shape, tooltip=tooltip))
    return (alt.layer(*_guide_layers(x, y), lines, points, data=data)
            .properties(width=width, height=height)
            .facet(facet=alt.Facet("dtype:N", title=None, sort=dtypes,
                                   header=alt.Header(labelFontWeight="bold")),
                   columns=columns)
            .resolve_scale(y="independent" if units == "relative" else "shared"))


def float64_chart(df: pd.DataFrame, methods: Sequence[str] = METHODS, agg: str = "max",
                  width: int | None = None, height: int = 320) -> alt.LayerChart:
    """float64's own error against the extended-precision (longdouble) reference,
    one line per method (marker shape) in float64's colour, with float64's u, √n·u
    and n·u as grey context lines."""
    rows = df[df["dtype"] == "float64"] if "dtype" in df else df.iloc[0:0]
    errors = _error_long(rows, methods, "n", agg, "relative")
    guides = _guides(errors["n"] if not errors.empty else [], ["float64"], "relative")
    data = pd.concat([errors, guides], ignore_index=True)
    x, y = _log_x("n"), alt.Y(**_log("value", "float64 relative error vs longdouble"))
    color = DTYPE_COLORS["float64"]
    present = [m for m in methods if m in set(errors["method"])] or list(methods)
    shape = alt.Shape("method:N", title="method", sort=present,
                      scale=alt.Scale(domain=present,
                                      range=[METHOD_SHAPES[m] for m in present]))
    tooltip = [alt.Tooltip("method:N"), *_tooltip("n", "value", "rel. error"),
               alt.Tooltip("err_u:Q", title="in units of u", format=".3g")]
    errors_only = (alt.Chart().transform_filter(alt.datum.kind == "error")
                   .transform_calculate(err_u=alt.datum.value / dtype_info("float64").u))
    lines = errors_only.mark_line(strokeWidth=1.6, opacity=0.8, color=color).encode(
        x=x, y=y, detail="method:N", tooltip=tooltip)
    points = errors_only.mark_point(filled=True, size=45, color=color).encode(
        x=x, y=y, shape=shape, tooltip=tooltip)
    props = {"height": height}
    if width is not None:
        props["width"] = width
    return alt.layer(*_guide_layers(x, y), lines, points, data=data).properties(**props)


#: Metrics a Compare overlay can show: column suffix → axis title.
OVERLAY_METRICS: dict[str, str] = {
    "max_abs_diff": "|{method} − autograd|",
    "rel_err": "relative error of {method}",
    "err_u": "error of {method} in units of u",
}


def overlay_chart(frames: Mapping[str, pd.DataFrame], method: str = "structured",
                  metric: str = "max_abs_diff", x: str = "n", agg: str = "max",
                  width: int | None = None, height: int = 380) -> alt.Chart:
    """Several result files on one chart: colour by dtype, dash and shape by file.
    When the files hold several bug-zoo variants, each variant gets a panel of its
    own (``width`` each, 180 by default): variants are never aggregated together."""
    _check_choice("metric", metric, tuple(OVERLAY_METRICS))
    _check_choice("method", method, ANALYTIC if metric == "max_abs_diff" else METHODS)
    value = f"{method}_{metric}"
    names = list(frames)
    variants = sorted({v for frame in frames.values() if "variant" in frame
                       for v in frame["variant"].dropna().unique()},
                      key=lambda v: (v not in VARIANT_ORDER, VARIANT_ORDER.index(v)
                                     if v in VARIANT_ORDER else 0, v))
    split = len(variants) > 1
    by = [x, "dtype", *(["variant"] if split else [])]
    parts = [aggregate(_with_x(frame, x), value, by, agg).assign(file=name)
             for name, frame in frames.items()]
    data = (pd.concat(parts, ignore_index=True) if parts
            else pd.DataFrame(columns=[*by, value, "points", "file"]))
    title = f"{agg} " + OVERLAY_METRICS[metric].format(method=method)
    dashes = [FILE_DASHES[i % len(FILE_DASHES)] for i in range(len(names))]
    shapes = [FILE_SHAPES[i % len(FILE_SHAPES)] for i in range(len(names))]
    props = {"height": height}
    if width is not None or split:
        props["width"] = width or 180
    side = "bottom" if split else "right"
    chart = (alt.Chart(data).mark_line(point=True, strokeWidth=2)
             .encode(x=_log_x(x, short=split), y=alt.Y(**_log(value, title)),
                     color=dtype_color(legend=side, dtypes=data["dtype"], stacked=split),
                     strokeDash=alt.StrokeDash("file:N", title="file", sort=names,
                                               legend=legend_at(side, stacked=split),
                                               scale=alt.Scale(domain=names, range=dashes)),
                     shape=alt.Shape("file:N", title="file", sort=names,
                                     legend=legend_at(side, stacked=split),
                                     scale=alt.Scale(domain=names, range=shapes)),
                     tooltip=[alt.Tooltip("file:N"),
                              *_tooltip(x, value, title, ["variant"] if split else [])])
             .properties(**props))
    if split:
        chart = chart.facet(column=alt.Column("variant:N", title="variant", sort=variants))
    return chart
