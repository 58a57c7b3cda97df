"""A check of dL/dW alone (what a sweep's row holds) is the full check's dL/dW, bit for
bit, and a reference built on a shared pre-activation is the one built without."""

from __future__ import annotations

import math

import pytest
import torch

from gradlab.core.errors import GradlabError
from gradlab.core.precise import WIDEN_ENTRIES, blocks
from gradlab.problems.seed import gradients
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.inputs import Inputs, case_inputs
from gradlab.problems.seed.reference import (
    DOUBLE_DOUBLE,
    LONGDOUBLE,
    pre_activation,
    reference_grads,
    sum_scale,
)

DTYPES = ("float32", "float64", "bfloat16", "float16")


def same(a, b) -> bool:
    """Equal, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("batch", [1, 3], ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("placement", ["inside", "outside"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dW_alone_is_the_same_bits_as_with_every_gradient(dtype, placement, batch):
    inputs = case_inputs(Case(37, 29, batch, dtype, 1e-5, placement, seed=4))
    args = (inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps, placement)
    for method in (gradients.autograd_grads, gradients.structured_grads):
        full = method(*args)
        alone = method(*args, params=("W",))
        assert set(full) == set(gradients.PARAMS) and set(alone) == {"W"}
        assert torch.equal(alone["W"], full["W"]), method.__name__
    assert set(gradients.autograd_grads(*args, params=("W", "g"))) == {"W", "g"}


@pytest.mark.parametrize("eps", [0.0, 1e-6], ids=["eps0", "eps1e-6"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_check_of_dW_alone_gives_the_full_checks_row(dtype, eps):
    case = Case(24, 40, 2, dtype, eps, seed=7)
    full, alone = run_check(case), run_check(case, params=("W",))
    assert set(full.errors["structured"]) == set(gradients.PARAMS)
    assert set(alone.errors["structured"]) == {"W"}
    a, b = full.to_row(), alone.to_row()
    assert a.keys() == b.keys()
    differ = [k for k in a if not k.endswith("_seconds") and not same(a[k], b[k])]
    assert not differ, {k: (a[k], b[k]) for k in differ}


@pytest.mark.parametrize("params, message", [
    (("x", "g"), r"params must include W.*got x, g"),
    ((), r"params must include W.*got none"),
    (("W", "y"), r"params must be among W, x, g, b \(got 'y'\)"),
])
def test_params_must_hold_W_and_only_known_names(params, message):
    with pytest.raises(GradlabError, match=message) as info:
        run_check(Case(4, 5), params=params)
    assert info.value.parameter == "params"


@pytest.mark.parametrize("eps", [0.0, 1e-5])
@pytest.mark.parametrize("dtype, precision", [
    ("float32", None), ("bfloat16", None), ("float16", None),
    ("float64", LONGDOUBLE), ("float64", DOUBLE_DOUBLE),
], ids=["float32", "bfloat16", "float16", "float64-longdouble", "float64-double-double"])
def test_a_shared_pre_activation_gives_the_same_reference(dtype, precision, eps):
    """The sweep takes a = X Wᵀ once per dtype and lends it to each ε: every reference
    quantity is the one taken without it."""
    base = case_inputs(Case(33, 21, 2, dtype, 0.0, seed=2))
    pre = pre_activation(base, precision)
    inputs = Inputs(base.W, base.X, base.g, base.b,
                    torch.tensor(eps, dtype=torch.float64).to(base.W.dtype))
    own = reference_grads(inputs, "inside", float64_reference=precision)
    lent = reference_grads(inputs, "inside", float64_reference=precision, pre=pre)
    assert lent.precision == own.precision
    assert lent.terms == own.terms
    for param in gradients.PARAMS:
        assert same(lent.max_abs(param), own.max_abs(param)), param
        assert same(lent.fro(param), own.fro(param)), param
    hi, lo = own.weight_parts(slice(0, 33))
    lent_hi, lent_lo = lent.weight_parts(slice(0, 33))
    assert torch.equal(hi, lent_hi)
    assert (lo is None and lent_lo is None) or torch.equal(lo, lent_lo)


def test_a_pre_activation_in_another_precision_is_refused():
    inputs = case_inputs(Case(6, 5, dtype="float64"))
    pre = pre_activation(inputs, DOUBLE_DOUBLE)
    with pytest.raises(GradlabError, match="^pre is in double-double, not this case's "
                                           "reference precision longdouble") as info:
        reference_grads(inputs, "inside", float64_reference=LONGDOUBLE, pre=pre)
    assert info.value.parameter == "pre"


def test_the_reference_forms_dx_only_when_asked():
    inputs = case_inputs(Case(6, 5, 2))
    assert set(reference_grads(inputs, "inside").grads) == {"x", "g", "b"}
    assert set(reference_grads(inputs, "inside", params=("W",)).grads) == set()
    assert set(reference_grads(inputs, "inside", params=("W", "b")).grads) == {"b"}


def test_a_shared_reference_without_dx_is_refused_for_a_check_of_dx():
    case = Case(6, 5, 2)
    reference = reference_grads(case_inputs(case), "inside", params=("W",))
    with pytest.raises(GradlabError, match="^reference holds no gradient of x, g, b") as info:
        run_check(case, reference=reference)
    assert info.value.parameter == "reference"
    assert run_check(case, reference=reference, params=("W",)).errors["autograd"].keys() == {"W"}


@pytest.mark.parametrize("m, n, batch", [(1, 1, 1), (33, 21, 2), (300, 1000, 3), (9, 70000, 1)],
                         ids=["1x1", "33x21-batch2", "300x1000-batch3", "9x70000"])
def test_a_float32_pre_activation_is_its_two_passes(m, n, batch):
    """In float32, a = X Wᵀ and sum_scale's ‖W_i ⊙ x‖₂ come from one widening of each
    block of W (``_with_sum_scale``): bit for bit what each pass gives alone, over one
    block and several (WIDEN_ENTRIES), and with a block of one row past it."""
    inputs = case_inputs(Case(m, n, batch, "float32", seed=4))
    pre = pre_activation(inputs)
    X = inputs.X.double()
    a = torch.cat([X @ inputs.W[sl].double().T for sl in blocks(m, n, WIDEN_ENTRIES)], dim=1)
    assert torch.equal(pre.a, a)
    assert torch.equal(pre.acc, sum_scale(inputs.W, inputs.X))
