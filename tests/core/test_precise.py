"""gradlab.core.precise: the blocked max |x|."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gradlab.core.precise import abs_max


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
