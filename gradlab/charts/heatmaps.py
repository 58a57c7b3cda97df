"""Heat maps of small matrices (pure Altair): inputs, R, J's structure, gradients, |Δ|.

Every function takes an array (torch tensor or numpy) or an already pooled
``Pooled`` matrix and returns an ``alt.Chart``. Signed matrices get a diverging
colour scale centred on 0; magnitudes such as |Δ| get a log colour scale, with
exact zeros drawn in grey and non-finite entries in black, since log(0) has no
colour. Large matrices are pooled to at most ``max_side`` cells a side (the
largest-magnitude entry of each block), and the subtitle says so.

Layout: the maps are drawn at the width of their column (Streamlit's
``width="stretch"`` sets the chart's whole width, axes and legends included),
so the legends sit below the cells and the titles are short: a narrow column
shrinks the cells, never hides them. They render as SVG, so every cell is an
element with an accessible label (and a browser test can measure it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import torch

__all__ = [
    "abs_bound", "as_array", "BORDER_SIDE", "kron_structure", "LABEL_COLS", "LABEL_ROWS", "LEGEND",
    "magnitude_heatmap", "matrix_frame", "MAX_SIDE", "PLAN_WIDTH", "pool", "Pooled", "pooled",
    "signed_heatmap", "ZERO_COLOR"
]

#: Cells a side beyond which a matrix is pooled into blocks.
MAX_SIDE = 32
#: Matrices with at most LABEL_ROWS rows and LABEL_COLS columns get their values
#: written in the cells: wider ones would not fit a third of a 1024 px page.
LABEL_ROWS = 6
LABEL_COLS = 3
ZERO_COLOR = "#d9d9d9"
#: The plot width the cell heights are planned for (the real width is the column's).
PLAN_WIDTH = 240
#: Room for the title, the x axis, the legend below the cells and Streamlit's bottom
#: padding, in pixels (measured in Chromium with Streamlit's chart theme).
TITLE_PX, SUBTITLE_PX, AXIS_PX, LEGEND_PX, PAD_PX = 50, 18, 60, 80, 20
LEGEND = dict(orient="bottom", direction="horizontal", gradientLength=110,
              gradientThickness=10, titleOrient="top")


@dataclass(frozen=True)
class Pooled:
    """A matrix as drawn: ``values`` pooled from a ``shape`` matrix in ``block``
    (rows, columns) blocks, each the largest-magnitude entry (NaN wins)."""

    values: np.ndarray
    shape: tuple[int, int]
    block: tuple[int, int] = (1, 1)

    @property
    def pooled(self) -> bool:
        return self.block != (1, 1)


def as_array(matrix) -> np.ndarray:
    """A 2-D float64 numpy array (vectors become one row)."""
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().to(torch.float64).cpu().numpy()
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise ValueError(f"a heat map needs a matrix (got {array.ndim} dimensions)")
    return array


def pool(array: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, int, int]:
    """(pooled, block rows, block cols): each block replaced by its
    largest-magnitude entry (sign kept; NaN wins, so a bad entry stays visible)."""
    rows, cols = array.shape
    br, bc = max(1, math.ceil(rows / max_side)), max(1, math.ceil(cols / max_side))
    if br == 1 and bc == 1:
        return array, 1, 1
    pr, pc = math.ceil(rows / br) * br, math.ceil(cols / bc) * bc
    padded = np.zeros((pr, pc))
    padded[:rows, :cols] = array
    blocks = padded.reshape(pr // br, br, pc // bc, bc).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(pr // br, pc // bc, br * bc)
    magnitude = np.where(np.isnan(blocks), np.inf, np.abs(blocks))
    pick = magnitude.argmax(axis=-1)
    return np.take_along_axis(blocks, pick[..., None], axis=-1)[..., 0], br, bc


def pooled(matrix, max_side: int = MAX_SIDE) -> Pooled:
    """``matrix`` pooled for drawing (a ``Pooled`` passes through unchanged)."""
    if isinstance(matrix, Pooled):
        return matrix
    full = as_array(matrix)
    values, br, bc = pool(full, max_side)
    return Pooled(values, full.shape, (br, bc))


def matrix_frame(array: np.ndarray, br: int = 1, bc: int = 1) -> pd.DataFrame:
    """One row per cell: row, col (of the first entry of its block), value, label
    (three significant digits, for the tooltip) and text (two, written in the cell)."""
    rows, cols = array.shape
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    values = array.ravel()
    return pd.DataFrame({
        "row": (r.ravel() * br).astype(int),
        "col": (c.ravel() * bc).astype(int),
        "value": values,
        "label": [_label(v, 3) for v in values],
        "text": [_label(v, 2) for v in values],
    })


def _label(v: float, digits: int) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v + 0.0:.{digits}g}"


def _title(title: str, matrix: Pooled) -> alt.TitleParams:
    """A short title; a pooled matrix says how in a subtitle (both fit a narrow column)."""
    if not matrix.pooled:
        return alt.TitleParams(text=title)
    (rows, cols), (br, bc) = matrix.shape, matrix.block
    return alt.TitleParams(text=title, subtitle=f"{rows}×{cols}, pooled {br}×{bc}")


#: Matrices up to this many cells a side get white cell borders (smaller cells would
#: be mostly border).
BORDER_SIDE = 16


def _cells(base: alt.Chart, shape: tuple[int, int]) -> alt.Chart:
    """The rect mark of the cells, bordered in white when they are large enough."""
    if max(shape) <= BORDER_SIDE:
        return base.mark_rect(stroke="white", strokeWidth=0.5)
    return base.mark_rect()


def _base(frame: pd.DataFrame, value_title: str) -> tuple[alt.Chart, list]:
    """The cells' chart with row i down and column j across, and their tooltip."""
    x = alt.X("col:O", title="column j", axis=alt.Axis(labelAngle=0, labelOverlap=True))
    y = alt.Y("row:O", title="row i", axis=alt.Axis(labelOverlap=True))
    tooltip = [alt.Tooltip("row:O", title="i"), alt.Tooltip("col:O", title="j"),
               alt.Tooltip("label:N", title=value_title)]
    return alt.Chart(frame).encode(x=x, y=y), tooltip


def _text_layer(base: alt.Chart, shape: tuple[int, int]) -> list[alt.Chart]:
    """Values written in the cells of a small matrix, white on dark cells."""
    if shape[0] > LABEL_ROWS or shape[1] > LABEL_COLS:
        return []
    return [base.mark_text(fontSize=10).encode(
        text="text:N",
        color=alt.condition(alt.datum.ink == "light", alt.value("white"), alt.value("black")))]


def _kinds_fill(present: list[str], colors: dict[str, str]) -> alt.Fill:
    """Grey/black cells for the kinds a colour scale cannot show. No legend: a
    second legend would not fit beside the colour bar in a narrow column; the
    tooltip says "0" or "NaN", and the page's caption names the colours."""
    return alt.Fill("kind:N", title=None, legend=None,
                    scale=alt.Scale(domain=present, range=[colors[k] for k in present]))


def abs_bound(*matrices) -> float:
    """The largest finite |entry| over ``matrices`` (1 if there is none > 0)."""
    best = 0.0
    for matrix in matrices:
        array = matrix.values if isinstance(matrix, Pooled) else as_array(matrix)
        finite = np.abs(array[np.isfinite(array)])
        if finite.size:
            best = max(best, float(finite.max()))
    return best if best > 0 else 1.0


def signed_heatmap(matrix, title: str, value_title: str = "value",
                   max_side: int = MAX_SIDE, size: int | None = None,
                   bound: float | None = None) -> alt.LayerChart:
    """A signed matrix on a diverging scale centred on 0 (inputs, R, J, gradients).

    ``bound``: the colour scale runs over [−bound, bound] (default max |entry|),
    so two heat maps drawn side by side can share one scale.
    """
    drawn = pooled(matrix, max_side)
    array = drawn.values
    frame = matrix_frame(array, *drawn.block)
    if bound is None or not math.isfinite(bound) or bound <= 0:
        bound = abs_bound(array)
    finite = np.isfinite(frame["value"])
    frame["kind"] = np.where(finite, "finite", "non-finite")
    frame["ink"] = np.where(~finite | (np.abs(frame["value"]) > 0.6 * bound), "light", "dark")
    base, tooltip = _base(frame, value_title)
    rect = _cells(base.transform_filter(alt.datum.kind == "finite"), array.shape).encode(
        color=alt.Color("value:Q", title=value_title, legend=alt.Legend(**LEGEND),
                        scale=alt.Scale(scheme="redblue", domain=[-bound, bound],
                                        reverse=True, domainMid=0)),
        tooltip=tooltip,
    )
    layers = [rect]
    if not finite.all():  # NaN and ±inf: black cells, not gaps
        layers.append(_cells(base.transform_filter(alt.datum.kind == "non-finite"),
                             array.shape).encode(
            fill=_kinds_fill(["non-finite"], {"non-finite": "black"}), tooltip=tooltip))
    chart = alt.layer(*layers, *_text_layer(base, array.shape))
    return _sized(chart, array.shape, size, drawn.pooled).properties(
        title=_title(title, drawn))


def magnitude_heatmap(matrix, title: str, value_title: str = "|Δ|",
                      max_side: int = MAX_SIDE, size: int | None = None) -> alt.LayerChart:
    """A non-negative matrix (such as |Δ| per element) on a log colour scale.

    Exact zeros cannot sit on a log scale: they are grey and labelled "0"
    in the tooltip; non-finite entries are black.
    """
    drawn = pooled(matrix, max_side)
    array = np.abs(drawn.values)
    frame = matrix_frame(array, *drawn.block)
    frame["kind"] = np.where(~np.isfinite(frame["value"]), "non-finite",
                             np.where(frame["value"] == 0, "exactly 0", "> 0"))
    positive = frame["value"][(frame["kind"] == "> 0")]
    if positive.empty:
        low, high = 1e-300, 1.0
    else:
        low, high = float(positive.min()), float(positive.max())
        if low == high:
            low, high = low / 10, high * 10
    # viridis is dark at the low end, and non-finite cells are black: white text there
    with np.errstate(divide="ignore", invalid="ignore"):
        position = (np.log10(frame["value"]) - math.log10(low)) / math.log10(high / low)
    light = ((frame["kind"] == "> 0") & (position < 0.55)) | (frame["kind"] == "non-finite")
    frame["ink"] = np.where(light, "light", "dark")
    base, tooltip = _base(frame, value_title)
    layers = []
    if not positive.empty:
        layers.append(_cells(base.transform_filter(alt.datum.kind == "> 0"),
                             array.shape).encode(
            color=alt.Color("value:Q", title=value_title,
                            legend=alt.Legend(format=".0e", **LEGEND),
                            scale=alt.Scale(type="log", scheme="viridis", domain=[low, high])),
            tooltip=tooltip))
    other = [k for k in ("exactly 0", "non-finite") if (frame["kind"] == k).any()]
    if other:
        layers.append(_cells(base.transform_filter(alt.datum.kind != "> 0"),
                             array.shape).encode(
            fill=_kinds_fill(other, {"exactly 0": ZERO_COLOR, "non-finite": "black"}),
            tooltip=tooltip))
    chart = alt.layer(*layers, *_text_layer(base, array.shape)).resolve_scale(
        color="independent")
    return _sized(chart, array.shape, size, drawn.pooled).properties(
        title=_title(title, drawn))


def kron_structure(J, title: str = "J = kron(I_m, xᵀ)",
                   max_side: int = MAX_SIDE) -> alt.LayerChart:
    """J for one token (m × m·n): row i holds xᵀ in block i, zeros elsewhere
    (the Kronecker delta), so its structure reads at a glance."""
    return signed_heatmap(J, title, value_title="J", max_side=max_side)


def _sized(chart, shape: tuple[int, int], size: int | None, subtitle: bool):
    """Planned size: cells of about ``size`` pixels (default: PLAN_WIDTH over the
    columns, 4 to 40), plus the title, axis and legend, which the chart's height
    includes (Streamlit fits the whole chart, legends too, to the size given).
    Drawn as SVG (each cell an element with an accessible label)."""
    rows, cols = shape
    cell = size or max(4, min(40, PLAN_WIDTH // max(cols, 1)))
    extra = TITLE_PX + (SUBTITLE_PX if subtitle else 0) + AXIS_PX + LEGEND_PX + PAD_PX
    return chart.properties(width=cols * cell + 60, height=max(rows * cell, 24) + extra,
                            usermeta={"embedOptions": {"renderer": "svg"}})
