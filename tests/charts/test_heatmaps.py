"""gradlab.heatmaps: pooling, scales (diverging for signed, log for |Δ|), zero cells."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dashboard.explorer import abs_delta, first_token_J, first_token_R
from gradlab.charts.heatmaps import (
    LABEL_COLS,
    LABEL_ROWS,
    MAX_SIDE,
    Pooled,
    abs_bound,
    as_array,
    kron_structure,
    magnitude_heatmap,
    matrix_frame,
    pool,
    pooled,
    signed_heatmap,
)
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check


def data_of(spec: dict) -> list[dict]:
    return next(iter(spec["datasets"].values()))


def color_scales(spec: dict) -> list[dict]:
    return [layer["encoding"]["color"]["scale"] for layer in spec["layer"]
            if "scale" in layer["encoding"].get("color", {})]


def test_vectors_become_one_row():
    assert as_array(torch.arange(3.0)).shape == (1, 3)
    with pytest.raises(ValueError, match="matrix"):
        as_array(np.zeros((2, 2, 2)))


def test_small_matrices_are_not_pooled():
    a = np.arange(12.0).reshape(3, 4)
    pooled, br, bc = pool(a)
    assert (br, bc) == (1, 1) and pooled is a


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 130), st.integers(1, 130)), elements=finite),
       st.integers(4, 48))
def test_pooling_keeps_the_largest_magnitude(a, side):
    pooled, br, bc = pool(a, side)
    assert pooled.shape[0] <= side and pooled.shape[1] <= side
    assert pooled.shape == (math.ceil(a.shape[0] / br), math.ceil(a.shape[1] / bc))
    assert np.abs(pooled).max() == np.abs(a).max()
    assert np.isin(pooled, np.append(a.ravel(), 0.0)).all(), "every cell is an entry (or pad)"


def test_pooling_keeps_a_nan_visible():
    a = np.ones((100, 100))
    a[37, 64] = np.nan
    pooled, _, _ = pool(a, 10)
    assert np.isnan(pooled).sum() == 1


def test_matrix_frame_positions_are_block_origins():
    frame = matrix_frame(np.zeros((2, 3)), br=4, bc=5)
    assert sorted(set(frame["row"])) == [0, 4]
    assert sorted(set(frame["col"])) == [0, 5, 10]


def test_signed_heatmap_is_diverging_around_zero():
    spec = signed_heatmap(np.array([[-2.0, 1.0], [0.5, 0.0]]), "W").to_dict()
    (scale,) = color_scales(spec)
    assert scale["domainMid"] == 0
    assert scale["domain"] == [-2.0, 2.0]
    assert "tooltip" in spec["layer"][0]["encoding"]
    assert spec["title"] == {"text": "W"}


def test_shared_bound_for_side_by_side_maps():
    a, b = np.array([[1.0, -3.0]]), np.array([[0.5, 2.0]])
    bound = abs_bound(a, b)
    assert bound == 3.0
    for m in (a, b):
        (scale,) = color_scales(signed_heatmap(m, "g", bound=bound).to_dict())
        assert scale["domain"] == [-3.0, 3.0]


def test_values_written_only_in_small_maps():
    small = signed_heatmap(np.ones((LABEL_ROWS, LABEL_COLS)), "s").to_dict()
    large = signed_heatmap(np.ones((LABEL_ROWS + 1, 2)), "l").to_dict()
    wide = signed_heatmap(np.ones((1, LABEL_COLS + 1)), "w").to_dict()
    assert not any(layer["mark"]["type"] == "text" for layer in wide["layer"])
    assert any(layer["mark"]["type"] == "text" for layer in small["layer"])
    assert not any(layer["mark"]["type"] == "text" for layer in large["layer"])


def test_magnitude_heatmap_has_a_log_scale_and_grey_zeros():
    spec = magnitude_heatmap(np.array([[0.0, 1e-8], [3e-9, np.inf]]), "|Δ|").to_dict()
    (scale,) = color_scales(spec)
    assert scale["type"] == "log"
    assert scale["domain"] == [3e-9, 1e-8]
    kinds = {row["label"]: row["kind"] for row in data_of(spec)}
    assert kinds == {"0": "exactly 0", "1e-08": "> 0", "3e-09": "> 0", "inf": "non-finite"}
    fills = [layer["encoding"]["fill"]["scale"] for layer in spec["layer"]
             if "fill" in layer["encoding"]]
    assert fills and fills[0]["domain"] == ["exactly 0", "non-finite"]
    assert fills[0]["range"] == ["#d9d9d9", "black"]


def test_magnitude_heatmap_of_all_zeros_still_renders():
    spec = magnitude_heatmap(np.zeros((2, 3)), "|Δ|").to_dict()
    assert {row["kind"] for row in data_of(spec)} == {"exactly 0"}
    fills = [layer["encoding"]["fill"]["scale"] for layer in spec["layer"]
             if "fill" in layer["encoding"]]
    assert fills == [{"domain": ["exactly 0"], "range": ["#d9d9d9"]}], "only kinds present"


def test_large_matrix_subtitle_says_it_is_pooled():
    spec = signed_heatmap(np.ones((200, 100)), "dL/dW").to_dict()
    assert spec["title"] == {"text": "dL/dW", "subtitle": "200×100, pooled 7×4"}
    assert len(data_of(spec)) <= MAX_SIDE * MAX_SIDE


def test_a_pooled_matrix_draws_as_its_source():
    a = np.arange(4000.0).reshape(40, 100) - 2000
    once = pooled(a)
    assert isinstance(once, Pooled) and once.shape == (40, 100) and once.block == (2, 4)
    assert pooled(once) is once
    assert signed_heatmap(once, "W").to_dict() == signed_heatmap(a, "W").to_dict()
    assert magnitude_heatmap(once, "|Δ|").to_dict() == magnitude_heatmap(a, "|Δ|").to_dict()


@pytest.mark.parametrize("shape", [(2, 3), (1, 2), (32, 24), (8, 64)],
                         ids=["notebook", "vector", "pooled", "J"])
def test_legends_sit_below_the_cells_and_the_height_leaves_room(shape):
    """Streamlit fits the whole chart (legends too) to the column: a legend at the side
    of a narrow column would leave the cells no width."""
    spec = signed_heatmap(np.ones(shape), "W").to_dict()
    legends = [layer["encoding"][c]["legend"] for layer in spec["layer"]
               for c in ("color", "fill") if c in layer["encoding"]
               and layer["encoding"][c].get("legend") is not None]
    assert legends and all(legend["orient"] == "bottom" for legend in legends)
    assert spec["height"] >= 200 + min(shape[0], 32) * 4
    assert spec["usermeta"] == {"embedOptions": {"renderer": "svg"}}


@pytest.fixture(scope="module")
def notebook():
    return run_check(Case.notebook(dtype="float64"))


def test_j_has_the_kronecker_structure(notebook):
    J = first_token_J(notebook)
    x = notebook.inputs.X[0]
    assert J.shape == (2, 6)
    assert torch.equal(J[0, :3], x) and torch.equal(J[1, 3:], x)
    assert (J[0, 3:] == 0).all() and (J[1, :3] == 0).all()
    rows = data_of(kron_structure(J).to_dict())
    assert len(rows) == 12


def test_r_is_symmetric_and_matches_the_notebook(notebook):
    R = first_token_R(notebook)
    assert torch.allclose(R, R.T)
    # the seed notebook prints R = [[0.0197, -0.1173], [-0.1173, 0.6982]]
    assert torch.allclose(R, torch.tensor([[0.0197, -0.1173], [-0.1173, 0.6982]],
                                          dtype=R.dtype), atol=1e-4)


def test_abs_delta_is_the_seed_number(notebook):
    delta = abs_delta(notebook, "kron")
    assert float(delta.max()) == pytest.approx(notebook.max_abs_diff["kron"], rel=0, abs=0)


def test_signed_heatmap_draws_non_finite_cells():
    spec = signed_heatmap(np.array([[1.0, np.nan], [-np.inf, 0.5]]), "dL/dW").to_dict()
    kinds = {row["label"]: row["kind"] for row in data_of(spec)}
    assert kinds == {"1": "finite", "NaN": "non-finite", "-inf": "non-finite",
                     "0.5": "finite"}
    fills = [layer["encoding"]["fill"]["scale"] for layer in spec["layer"]
             if "fill" in layer["encoding"]]
    assert fills == [{"domain": ["non-finite"], "range": ["black"]}]
    assert {row["label"]: row["text"] for row in data_of(spec)}["1"] == "1"
    (scale,) = color_scales(spec)
    assert scale["domain"] == [-1.0, 1.0], "the bound ignores non-finite entries"
