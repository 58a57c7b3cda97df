"""gradlab.core.precise: the blocked max |x|, and blocks of fixed-order sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gradlab.core import precise
from gradlab.core.precise import CACHED_ENDS_BYTES, abs_max, ends, fixed_sum, fixed_sums


@pytest.mark.parametrize("x", [torch.zeros(3, 4), torch.zeros(5, dtype=torch.float16),
                               np.zeros(3), -torch.zeros(2, 2)],
                         ids=["float32", "float16", "numpy", "negative-zeros"])
def test_abs_max_of_zeros_is_plus_zero(x):
    """-min of an all-zero tensor is -0.0; a bug effect of 0 printed as "-0 relative"."""
    value = abs_max(x)
    assert value == 0 and math.copysign(1.0, value) == 1.0


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "float16"])
@pytest.mark.parametrize("entries", [1, 1000, CACHED_ENDS_BYTES // 4 + 1],
                         ids=["one", "cached", "past-the-caches"])
@pytest.mark.parametrize("special", ["none", "nan", "signed-zeros", "inf"])
def test_ends_are_aminmax_whichever_way_they_are_taken(dtype, entries, special):
    """ends takes amin + amax where that is faster (float32/64 in the caches), aminmax
    elsewhere: the same values, NaN carried, both infinities kept."""
    gen = torch.Generator().manual_seed(entries)
    x = torch.randn(entries, generator=gen, dtype=torch.float64).to(getattr(torch, dtype))
    if special == "nan":
        x[entries // 2] = math.nan
    elif special == "signed-zeros":
        x.zero_()
        x[::2] = -0.0
    elif special == "inf":
        x[0], x[-1] = math.inf, -math.inf
    low, high = ends(x)
    want_low, want_high = torch.aminmax(x)
    for got, want in ((low, want_low), (high, want_high)):
        assert got.dtype == x.dtype and got.dim() == 0
        assert torch.equal(got, want) or (got.isnan() and want.isnan()), (got, want)
    assert abs_max(x) == abs_max(x.double()) or math.isnan(abs_max(x))


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


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fixed_sum_past_the_grain_of_rows_does_not_depend_on_the_thread_count(monkeypatch,
                                                                              dtype):
    """Row sums numbering TORCH_GRAIN or more (from 2²⁸ entries at SUM_ROW = 8192; here
    SUM_ROW = 4 stands in, at 160,000 entries) are added in SUM_ROW parts, each by one
    thread, where one ``sum()`` of them split by thread: the same bits at 1 and 2
    threads, and ``fixed_sums`` of the one block agrees."""
    monkeypatch.setattr(precise, "SUM_ROW", 4)
    rows = precise.TORCH_GRAIN + 7232
    gen = torch.Generator().manual_seed(0)
    t = (torch.randn(4 * rows + 3, generator=gen, dtype=torch.float64)
         * 10.0 ** torch.randint(-8, 9, (4 * rows + 3,), generator=gen)).to(dtype)
    saved, got = torch.get_num_threads(), {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got[threads] = (fixed_sum(t), fixed_sums(t[:4 * rows].view(1, rows, 4), rows).item(),
                            fixed_sum(t[:4 * rows]))
    finally:
        torch.set_num_threads(saved)
    assert got[1] == got[2]
    assert got[1][1] == got[1][2]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fixed_sum_under_the_grain_of_rows_is_one_sum_of_the_row_sums(monkeypatch, dtype):
    """Below TORCH_GRAIN row sums, ``fixed_sum`` adds them as the one ``sum()`` it took
    before the parts above, bit for bit (every report and CSV keeps its bits); SUM_ROW =
    4 stands in for 8192, so that up to TORCH_GRAIN − 1 rows take little memory."""
    monkeypatch.setattr(precise, "SUM_ROW", 4)
    gen = torch.Generator().manual_seed(5)
    for rows in (1, 2, 3, 17, 1000, 8191, precise.TORCH_GRAIN - 1):
        t = (torch.randn(rows * 4 + rows % 4, generator=gen, dtype=torch.float64)
             * 10.0 ** torch.randint(-8, 9, (rows * 4 + rows % 4,), generator=gen)).to(dtype)
        head = t[:rows * 4].view(rows, 4).sum(1).sum()
        assert fixed_sum(t) == float(head + t[rows * 4:].sum()), rows


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_one_row_with_parts_past_the_grain_does_not_depend_on_the_thread_count(monkeypatch,
                                                                             dtype):
    """``sum_last`` and ``mean_last`` of one row whose SUM_ROW-entry parts number
    TORCH_GRAIN or more (2²⁸ entries at SUM_ROW = 8192; SUM_ROW = 4 stands in here) add
    the parts as parts of their own: the same bits at 1 and 2 threads."""
    monkeypatch.setattr(precise, "SUM_ROW", 4)
    entries = 4 * (precise.TORCH_GRAIN + 7232) + 3
    gen = torch.Generator().manual_seed(0)
    t = (torch.randn(entries, generator=gen, dtype=torch.float64)
         * 10.0 ** torch.randint(-3, 4, (entries,), generator=gen)).to(dtype)
    saved, got = torch.get_num_threads(), {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got[threads] = [precise.sum_last(t).item(), precise.mean_last(t).item(),
                            precise.sum_last(t.view(1, -1), keepdim=True).item()]
    finally:
        torch.set_num_threads(saved)
    assert got[1] == got[2]
