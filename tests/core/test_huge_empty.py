"""huge_empty: a fresh CPU tensor in numpy's memory, of any dtype and shape."""

from __future__ import annotations

import pytest
import torch

from gradlab.core.memory import huge_empty

DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.int64)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (1 << 20,), (1024, 1025)],
                         ids=lambda s: "x".join(map(str, s)) or "scalar")
def test_huge_empty_is_a_writable_contiguous_tensor_of_its_shape_and_dtype(shape, dtype):
    t = huge_empty(shape, dtype)
    assert t.shape == shape and t.dtype == dtype and t.device.type == "cpu"
    assert t.is_contiguous()
    t.fill_(3)
    assert bool((t == 3).all())
    other = huge_empty(shape, dtype).fill_(5)  # its own memory
    assert bool((t == 3).all()) and bool((other == 5).all())
