"""The numbers do not depend on torch's thread count (a sweep on one-thread Dask
workers must reproduce a serial run bit for bit).

torch splits a reduction to one output over 32768 entries or more by thread, and
MKL splits a float64 dot of 4096 entries: sums that gradlab takes go through
``precise.sum_last``/``mean_last`` instead.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gradlab.core.normals import standard_normal
from gradlab.core.precise import TORCH_GRAIN, mean_last, sum_last
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.inputs import draw, draw_digest

DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


@pytest.fixture
def threads():
    """Run a callable under a given torch thread count; the count is restored after."""
    saved = torch.get_num_threads()

    def under(count: int, fn, *args, **kwargs):
        torch.set_num_threads(count)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(saved)

    yield under
    torch.set_num_threads(saved)


def _draw(shape, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


#: A tensor's bits, as integers of its width.
_BITS = {8: torch.int64, 4: torch.int32, 2: torch.int16}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit: same dtype, shape and bits."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.reshape(-1).view(_BITS[a.dtype.itemsize]), b.reshape(-1).view(_BITS[b.dtype.itemsize]))


@pytest.mark.parametrize("dtype", DTYPES, ids=[str(d)[6:] for d in DTYPES])
@pytest.mark.parametrize("shape", [(5,), (1, 300), (3, 50_000), (4, 7)],
                         ids=["vector", "one-short-row", "several-long-rows", "small"])
def test_where_torch_does_not_split_it_is_torchs_own_sum(dtype, shape):
    t = _draw(shape, dtype)
    assert _same(sum_last(t), t.sum(-1))
    assert _same(mean_last(t, keepdim=True), t.mean(-1, keepdim=True))


@pytest.mark.parametrize("dtype", DTYPES, ids=[str(d)[6:] for d in DTYPES])
@pytest.mark.parametrize("shape", [(TORCH_GRAIN,), (1, 40_000), (100_003,)],
                         ids=["grain", "one-row-40000", "vector-100003"])
def test_a_long_row_sums_the_same_at_any_thread_count(threads, dtype, shape):
    t = _draw(shape, dtype, seed=1)
    one = threads(1, lambda: (sum_last(t, keepdim=True), mean_last(t)))
    for count in (2, 3):
        other = threads(count, lambda: (sum_last(t, keepdim=True), mean_last(t)))
        assert all(_same(a, b) for a, b in zip(one, other)), count
    exact = float(t.double().sum())
    assert one[0].dtype == dtype and one[0].shape == (1,) * len(shape)
    assert math.isclose(float(one[0]), exact, rel_tol=0.02, abs_tol=1.0)


def test_a_long_row_sum_is_differentiable():
    t = _draw((1, 40_000), torch.float64).requires_grad_(True)
    mean_last(t * t).sum().backward()
    assert torch.allclose(t.grad, 2 * t.detach() / 40_000)


def _row(case: Case) -> dict:
    return run_check(case, methods=("autograd", "structured"), variant=None).to_row()


def _differences(a: dict, b: dict, skip=()) -> list[str]:
    def same(x, y):
        if isinstance(x, float) and isinstance(y, float):
            return (math.isnan(x) and math.isnan(y)) or x.hex() == y.hex()
        return x == y
    return [k for k in a if not k.endswith("_seconds") and k not in skip
            and not same(a[k], b[k])]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_check_at_m_4096_is_the_same_at_one_and_two_threads(threads, dtype):
    # MKL's dot splits â·dg (m = 4096 entries) by thread; structured sums it itself.
    case = Case(4096, 8, 1, dtype, 0.0, "inside", 1.0, 1)
    assert _differences(threads(1, _row, case), threads(2, _row, case)) == []


#: torch autograd's own backward sums over m (broadcasting u over a) by thread past
#: torch's grain: columns that depend on autograd's gradient differ there. torch's
#: behaviour, not gradlab's (docs/sweeps.md).
AUTOGRAD = ("autograd_", "structured_max_abs_diff", "structured_threshold",
            "structured_sensitivity", "structured_status", "structured_verdict")


def test_past_torchs_grain_only_autograds_own_backward_depends_on_threads(threads):
    case = Case(40_000, 2, 1, "float32", 1e-5, "outside", 1.0, 0)
    one, three = threads(1, _row, case), threads(3, _row, case)
    skip = [k for k in one if k.startswith(AUTOGRAD)]
    assert _differences(one, three, skip) == []
    assert one["structured_fro_err"] > 0 and one["ref_fro"] > 0


def test_the_draws_are_the_same_at_any_thread_count_and_in_another_process(threads):
    """``draw`` is gradlab's normals from numpy's SFC64 stream, W, X, g, b in that order
    (W scaled by scale/√n), bit for bit at 1, 2 and 3 threads and in a fresh process (as
    a Dask worker is; tests/sweep/test_cluster.py asks real workers)."""
    args = (300, 500, 2, 7, 0.5)
    one = threads(1, draw, *args)
    bits = np.random.SFC64(7)
    stream = [torch.from_numpy(standard_normal(bits, (300, 500)) * (0.5 / math.sqrt(500))),
              *(torch.from_numpy(standard_normal(bits, shape)) for shape in ((2, 500), (300,),
                                                                              (300,)))]
    assert all(_same(a, b) for a, b in zip((one.W, one.X, one.g, one.b), stream))
    for count in (2, 3):
        other = threads(count, draw, *args)
        assert all(_same(a, b) for a, b in zip((one.W, one.X, one.g, one.b),
                                               (other.W, other.X, other.g, other.b))), count
    root = Path(__file__).resolve().parents[2]
    code = ("import torch; torch.set_num_threads(2); from gradlab.problems.seed.inputs import "
            f"draw, draw_digest; print(draw_digest(draw{args!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=120, check=True)
    assert done.stdout.strip() == draw_digest(one)
    assert draw_digest(draw(300, 500, 2, 8, 0.5)) != draw_digest(one)
