"""gradlab.core.precise: the blocked max |x|, and blocks of fixed-order sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gradlab.core.precise import abs_max, fixed_sum, fixed_sums


@pytest.mark.parametrize("x", [torch.zeros(3, 4), torch.zeros(5, dtype=torch.float16),
                               np.zeros(3), -torch.zeros(2, 2)],
                         ids=["float32", "float16", "numpy", "negative-zeros"])
def test_abs_max_of_zeros_is_plus_zero(x):
    """-min of an all-zero tensor is -0.0; a bug effect of 0 printed as "-0 relative"."""
    value = abs_max(x)
    assert value == 0 and math.copysign(1.0, value) == 1.0


def test_abs_max_keeps_a_nan():
    assert math.isnan(abs_max(torch.tensor([1.0, float("nan"), -3.0])))
    assert abs_max(torch.tensor([1.0, -3.0])) == 3.0


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("q, K, n, rows", [
    (3, 64, 2048, 32), (2, 300, 500, 131), (1, 13, 7, 3), (3, 100, 3000, 21),
    (2, 7, 70000, 1), (1, 9, 8193, 2), (2, 17, 1, 5), (1, 4, 5, 1)],
    ids=["whole-rows", "ragged", "no-full-row", "tail", "long-rows", "just-over", "column",
         "tiny"])
def test_fixed_sums_is_fixed_sum_of_each_block_bit_for_bit(q, K, n, rows, threads):
    """Every block of ``rows`` rows of every t[i], summed as fixed_sum sums it, at any
    thread count; also on a strided view (a step's first K − 1 rows of a buffer)."""
    gen = torch.Generator().manual_seed(K * n + q)
    t = torch.randn(q, K, n, generator=gen, dtype=torch.float64)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for view in (t, t[:, :K - 1]):
            got = fixed_sums(view, rows).tolist()
            want = [[fixed_sum(view[i, j:j + rows]) for j in range(0, view.shape[1], rows)]
                    for i in range(q)]
            assert got == want
    finally:
        torch.set_num_threads(saved)
