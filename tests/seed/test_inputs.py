"""The inputs in huge-page memory: the bits of a plain ``to`` and of a plain outer
product, below and past ``memory.HUGE_PAGE``; and the earlier draws, by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.errors import GradlabError
from gradlab.problems.seed import gradients
from gradlab.problems.seed.case import DRAWS, EARLIER_DRAWS, NUMPY_DRAWS, Case
from gradlab.problems.seed.gradients import structured_grads
from gradlab.problems.seed.inputs import (
    case_draws,
    case_inputs,
    draw,
    draw_digest,
    draw_numpy_sfc64,
    draw_scheme,
    draw_torch_randn,
)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("m, n", [(3, 5), (512, 1024), (1024, 1023)],
                         ids=["3x5", "512x1024", "1024x1023"])
def test_rounded_inputs_are_the_bits_of_to(dtype, m, n):
    """Past HUGE_PAGE bytes W is rounded into numpy's memory, below it into torch's: the
    bits of a plain ``to`` either way."""
    case = Case(m, n, batch=2, dtype=dtype, eps=1e-5, seed=5)
    base, rounded = case_draws(case), case_inputs(case)
    wanted = DTYPES[dtype].torch_dtype
    for name, got in rounded.tensors().items():
        plain = base.tensors()[name].to(wanted)
        assert got.dtype == wanted and got.shape == plain.shape
        assert torch.equal(got.view(torch.uint8), plain.view(torch.uint8)), name


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("batch", [1, 3], ids=lambda b: f"batch{b}")
def test_structured_dW_in_huge_memory_is_the_plain_product(dtype, batch, monkeypatch):
    """structured forms dL/dW into ``gradients.fresh`` memory (torch.outer or torch.mm
    with out=): the bits of the product without it (row xᵀ, Rowsᵀ X)."""
    inputs = case_inputs(Case(700, 800, batch=batch, dtype=dtype, seed=2))
    args = (inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps, "inside")
    dW = structured_grads(*args, params=("W",))["W"]
    assert dW.shape == inputs.W.shape and dW.dtype == inputs.W.dtype
    products = []
    monkeypatch.setattr(gradients.torch, "outer", lambda a, b, out: products.append(
        torch.ger(a, b)) or products[-1])
    monkeypatch.setattr(gradients.torch, "mm", lambda a, b, out: products.append(a @ b)
                        or products[-1])
    plain = structured_grads(*args, params=("W",))["W"]
    assert len(products) == 1
    assert torch.equal(dW.view(torch.uint8), plain.contiguous().view(torch.uint8))


def test_the_earlier_draws_are_torchs_seeded_randn():
    """draw_torch_randn (a row whose draws are torch-randn) is torch's float64 randn
    stream of W, X, g, b, W × scale/√n; the current draw is another stream."""
    gen = torch.Generator().manual_seed(11)
    W = torch.randn(30, 50, generator=gen, dtype=torch.float64) * (0.5 / 50 ** 0.5)
    rest = [torch.randn(*s, generator=gen, dtype=torch.float64) for s in ((3, 50), (30,), (30,))]
    earlier = draw_torch_randn(30, 50, 3, 11, 0.5, 1e-5)
    for got, want in zip((earlier.W, earlier.X, earlier.g, earlier.b), (W, *rest)):
        assert torch.equal(got, want)
    assert float(earlier.eps) == 1e-5
    assert not torch.equal(case_draws(Case(30, 50, batch=3, scale=0.5, seed=11)).W, W)


def test_the_numpy_sfc64_draws_are_numpys_own_ziggurat_on_the_stream():
    """draw_numpy_sfc64 (a row whose draws are numpy-sfc64) is numpy's
    Generator(SFC64(seed)).standard_normal of W, X, g, b, W × scale/√n; the current draw
    takes the same stream's words through gradlab's ziggurat, so other values."""
    rng = np.random.Generator(np.random.SFC64(11))
    W = rng.standard_normal((30, 50)) * (0.5 / 50 ** 0.5)
    rest = [rng.standard_normal(s) for s in ((3, 50), (30,), (30,))]
    earlier = draw_numpy_sfc64(30, 50, 3, 11, 0.5, 1e-5)
    for got, want in zip((earlier.W, earlier.X, earlier.g, earlier.b), (W, *rest)):
        assert torch.equal(got, torch.from_numpy(want))
    assert not torch.equal(case_draws(Case(30, 50, batch=3, scale=0.5, seed=11)).W,
                           torch.from_numpy(W))


def test_each_draws_name_has_its_scheme_and_another_name_is_refused():
    assert draw_scheme(DRAWS) is draw and draw_scheme(NUMPY_DRAWS) is draw_numpy_sfc64
    assert draw_scheme(EARLIER_DRAWS) is draw_torch_randn
    assert Case(3, 4).draws == DRAWS  # what a new row's column says is what draws it
    with pytest.raises(GradlabError) as info:
        draw_scheme("mersenne")
    assert "draws: 'mersenne'" in str(info.value) and NUMPY_DRAWS in str(info.value)
    assert info.value.parameter == "draws"


@pytest.mark.parametrize("scheme", [DRAWS, NUMPY_DRAWS, EARLIER_DRAWS])
def test_a_cases_draws_follow_the_scheme_asked_for(scheme):
    """case_draws(case, scheme): that scheme's draw of the case's sizes, seed, scale and
    ε, bit for bit; the default is DRAWS."""
    case = Case(30, 50, batch=3, scale=0.5, seed=11, eps=1e-3)
    got = case_draws(case, scheme)
    want = draw_scheme(scheme)(30, 50, 3, 11, 0.5, 1e-3)
    assert draw_digest(got) == draw_digest(want)
    assert (draw_digest(case_draws(case)) == draw_digest(got)) == (scheme == DRAWS)
