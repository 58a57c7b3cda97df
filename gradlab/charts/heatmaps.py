"""Heat maps of small matrices (pure Altair): inputs, R, J's structure, gradients, |Δ|.

Every function takes arrays (torch tensors or numpy) and returns an
``alt.Chart``. Signed matrices get a diverging colour scale centred on 0;
magnitudes such as |Δ| get a log colour scale, with exact zeros drawn in
grey and labelled, since log(0) has no colour. Large matrices are pooled to
at most ``max_side`` cells a side (the largest-magnitude entry of each
block), and the title says so.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import torch

#: Cells a side beyond which a matrix is pooled into blocks.
MAX_SIDE = 32
#: Matrices with at most this many cells, and at most LABEL_SIDE a side, get
#: their values written in the cells (more would not fit a column).
LABEL_CELLS = 36
LABEL_SIDE = 6
ZERO_COLOR = "#d9d9d9"


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


def matrix_frame(array: np.ndarray, br: int = 1, bc: int = 1) -> pd.DataFrame:
    """One row per cell: row, col (of the first entry of its block), value, label."""
    rows, cols = array.shape
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    values = array.ravel()
    return pd.DataFrame({
        "row": (r.ravel() * br).astype(int),
        "col": (c.ravel() * bc).astype(int),
        "value": values,
        "label": [_label(v) for v in values],
    })


def _label(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.3g}"


def _title(title: str, shape: tuple[int, int], br: int, bc: int) -> str | list[str]:
    if br == 1 and bc == 1:
        return title
    return [title, f"{shape[0]}×{shape[1]}, pooled: {br}×{bc} blocks, largest |entry|"]


def _base(frame: pd.DataFrame, value_title: str) -> tuple[alt.Chart, list]:
    """The cells' chart with row i down and column j across, and their tooltip."""
    x = alt.X("col:O", title="column j", axis=alt.Axis(labelAngle=0, labelOverlap=True))
    y = alt.Y("row:O", title="row i", axis=alt.Axis(labelOverlap=True))
    tooltip = [alt.Tooltip("row:O", title="i"), alt.Tooltip("col:O", title="j"),
               alt.Tooltip("label:N", title=value_title)]
    return alt.Chart(frame).encode(x=x, y=y), tooltip


def _text_layer(base: alt.Chart, shape: tuple[int, int]) -> list[alt.Chart]:
    """Values written in the cells of a small matrix, white on dark cells."""
    if shape[0] * shape[1] > LABEL_CELLS or max(shape) > LABEL_SIDE:
        return []
    return [base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition(alt.datum.ink == "light", alt.value("white"), alt.value("black")))]


def abs_bound(*matrices) -> float:
    """The largest finite |entry| over ``matrices`` (1 if there is none > 0)."""
    best = 0.0
    for matrix in matrices:
        array = as_array(matrix)
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
    full = as_array(matrix)
    array, br, bc = pool(full, max_side)
    frame = matrix_frame(array, br, bc)
    if bound is None or not math.isfinite(bound) or bound <= 0:
        bound = abs_bound(array)
    finite = np.isfinite(frame["value"])
    frame["kind"] = np.where(finite, "finite", "non-finite")
    frame["ink"] = np.where(~finite | (np.abs(frame["value"]) > 0.6 * bound), "light", "dark")
    base, tooltip = _base(frame, value_title)
    rect = base.transform_filter(alt.datum.kind == "finite").mark_rect(
        stroke="white", strokeWidth=0.5).encode(
        color=alt.Color("value:Q", title=value_title,
                        scale=alt.Scale(scheme="redblue", domain=[-bound, bound],
                                        reverse=True, domainMid=0)),
        tooltip=tooltip,
    )
    layers = [rect]
    if not finite.all():  # NaN and ±inf: black cells, not gaps
        layers.append(base.transform_filter(alt.datum.kind == "non-finite").mark_rect(
            stroke="white", strokeWidth=0.5).encode(
            fill=alt.Fill("kind:N", title="", scale=alt.Scale(domain=["non-finite"],
                                                               range=["black"])),
            tooltip=tooltip))
    chart = alt.layer(*layers, *_text_layer(base, array.shape))
    return _sized(chart, array.shape, size).properties(
        title=_title(title, full.shape, br, bc))


def magnitude_heatmap(matrix, title: str, value_title: str = "|Δ|",
                      max_side: int = MAX_SIDE, size: int | None = None) -> alt.LayerChart:
    """A non-negative matrix (such as |Δ| per element) on a log colour scale.

    Exact zeros cannot sit on a log scale: they are grey and labelled "0"
    in the tooltip; non-finite entries are black.
    """
    full = np.abs(as_array(matrix))
    array, br, bc = pool(full, max_side)
    frame = matrix_frame(array, br, bc)
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
    rect = base.transform_filter(alt.datum.kind == "> 0").mark_rect(
        stroke="white", strokeWidth=0.5).encode(
        color=alt.Color("value:Q", title=value_title,
                        legend=alt.Legend(format=".0e") if not positive.empty else None,
                        scale=alt.Scale(type="log", scheme="viridis", domain=[low, high])),
        tooltip=tooltip,
    )
    other = base.transform_filter(alt.datum.kind != "> 0").mark_rect(
        stroke="white", strokeWidth=0.5).encode(
        fill=alt.Fill("kind:N", title="",
                      scale=alt.Scale(domain=["exactly 0", "non-finite"],
                                      range=[ZERO_COLOR, "black"])),
        tooltip=tooltip,
    )
    chart = alt.layer(rect, other, *_text_layer(base, array.shape)).resolve_scale(
        color="independent")
    return _sized(chart, array.shape, size).properties(
        title=_title(title, full.shape, br, bc))


def kron_structure(J, title: str = "J = kron(I_m, xᵀ)",
                   max_side: int = MAX_SIDE) -> alt.LayerChart:
    """J for one token (m × m·n): row i holds xᵀ in block i, zeros elsewhere
    (the Kronecker delta), so its structure reads at a glance."""
    return signed_heatmap(J, title, value_title="J", max_side=max_side)


def _sized(chart, shape: tuple[int, int], size: int | None):
    """Cells of about ``size`` pixels (default: by cell count, 5 to 44), plus room
    for the title, axes and legend, which Streamlit's "fit" sizing counts in the height."""
    rows, cols = shape
    cell = size or max(5, min(44, 320 // max(rows, cols)))
    return chart.properties(width=cols * cell + 110, height=max(rows * cell, 60) + 110)
