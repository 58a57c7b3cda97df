"""The notebook preset reproduces the seed notebook (shared/seed/notebook.txt)."""

from __future__ import annotations

import pytest
import torch

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.gradients import METHODS
from gradlab.problems.seed.inputs import case_inputs

#: The notebook's printed dL/dW (autograd and analytic alike), 4 decimals.
PRINTED = torch.tensor([[-0.0538, -0.1118, 0.0960], [0.3203, 0.6655, -0.5712]],
                       dtype=torch.float64)


def run_notebook() -> dict:
    """The seed notebook's cells In [63] and In [92], as written, re-run now.

    One change: the cell sets ``dtype = torch.float64`` but its printed output
    (R without ``dtype=torch.float64``) shows it ran with float32 — with float64,
    ``(d * g) @ R`` raises "expected m1 and m2 to have the same dtype" on this torch.
    The global RNG is restored afterwards.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        dtype = torch.float32

        m, n = 2, 3                     # outputs, inputs  (tiny toy layer)

        # ----- tiny random tensors -----
        W = torch.randn(m, n, requires_grad=True)
        x = torch.randn(n)              # input vector (n,)
        g = torch.randn(m)              # gain vector
        b = torch.randn(m)              # bias vector

        # ----- forward pass -----
        a = W @ x                       # (m,)
        u = torch.sqrt((a ** 2).mean())  # RMS scale (scalar)
        v = g * (a / u) + b             # (m,)
        loss = v.pow(2).sum()           # simple scalar loss

        # ----- Autograd reference -----
        loss.backward()
        grad_auto = W.grad.detach()   # (m × n)

        # ------------ analytic gradient ----------------------------
        d = 2 * v.detach()                                  # ∂L/∂v  (because L = Σ v_i²)
        I = torch.eye(m, dtype=dtype)                       # Identity matrix
        R = (1/u) * (I - torch.outer(a, a) / (m * u**2))    # (m × m)
        row = (d * g) @ R                        # (m,)
        J = torch.kron(I, x.unsqueeze(0))      # (m, m*n) - Jacobian matrix
        grad_vec = row.unsqueeze(0) @ J               # (1, m*n) - apply chain rule
        grad_an = grad_vec.view(m, n)

        delta = (grad_an - grad_auto).abs().max().item()
    return dict(W=W.detach(), x=x, g=g, b=b, grad_auto=grad_auto, grad_an=grad_an.detach(),
                delta=delta)


@pytest.fixture(scope="module")
def notebook():
    return run_notebook()


def test_literal_run_leaves_the_global_generator_alone():
    torch.manual_seed(1234)
    expected = torch.randn(3)
    torch.manual_seed(1234)
    run_notebook()
    assert torch.equal(torch.randn(3), expected)


def test_preset_draws_are_the_notebooks(notebook):
    inputs = case_inputs(Case.notebook())
    assert inputs.W.dtype == torch.float32
    assert torch.equal(inputs.W, notebook["W"])
    assert torch.equal(inputs.X, notebook["x"].unsqueeze(0))
    assert torch.equal(inputs.g, notebook["g"])
    assert torch.equal(inputs.b, notebook["b"])


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_every_dtype_rounds_the_notebooks_own_values(dtype, notebook):
    inputs = case_inputs(Case.notebook(dtype=dtype, eps=1e-5))
    target = DTYPES[dtype].torch_dtype
    assert torch.equal(inputs.W, notebook["W"].to(target))
    assert torch.equal(inputs.X, notebook["x"].unsqueeze(0).to(target))
    assert torch.equal(inputs.g, notebook["g"].to(target))
    assert torch.equal(inputs.b, notebook["b"].to(target))


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("eps", [1e-5, 1e-6, 0.1], ids=lambda e: f"eps{e:g}")
def test_notebook_eps_is_rounded_once_to_the_case_dtype(dtype, eps):
    """ε is held in float64 and rounded to the case dtype, as for every other case:
    in float64, ε = 1e-5 runs as 1e-5, not as float32's 9.99999974737875e-06."""
    inputs = case_inputs(Case.notebook(dtype=dtype, eps=eps))
    target = DTYPES[dtype].torch_dtype
    assert inputs.eps.dtype == target
    assert torch.equal(inputs.eps, torch.tensor(eps, dtype=torch.float64).to(target))
    assert torch.equal(inputs.eps, case_inputs(Case(2, 3, dtype=dtype, eps=eps)).eps)
    if dtype == "float64":
        assert float(inputs.eps) == eps


def test_preset_differs_from_a_generic_seed_zero_case():
    """The preset is the notebook's float32 stream, not gradlab's float64 draw."""
    assert not torch.equal(case_inputs(Case.notebook()).W, case_inputs(Case(2, 3)).W)


def test_the_literal_run_prints_what_the_notebook_printed(notebook):
    assert torch.equal(notebook["grad_auto"].double().round(decimals=4), PRINTED)
    assert torch.equal(notebook["grad_an"].double().round(decimals=4), PRINTED)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_method_gives_the_printed_gradient(dtype):
    check = run_check(Case.notebook(dtype=dtype))
    assert set(check.runs) == set(METHODS)
    for method, run in check.runs.items():
        assert torch.equal(run.grads["W"].double().round(decimals=4), PRINTED), method
    exact = torch.as_tensor(check.reference.to_float64("W"))
    assert torch.equal(exact.round(decimals=4), PRINTED)


def test_float32_delta_is_nonzero_small_and_the_notebooks(notebook):
    """Not the notebook's printed 0.0: on this torch its own code gives a Δ of a few
    u × max|grad|, and gradlab reports the same Δ."""
    check = run_check(Case.notebook())
    u = DTYPES["float32"].u
    scale = float(check.runs["autograd"].grads["W"].abs().max())
    assert 0 < notebook["delta"] <= 8 * u * scale
    assert check.max_abs_diff["kron"] == notebook["delta"]
    assert 0 < check.max_abs_diff["structured"] <= 8 * u * scale


def test_kron_and_autograd_match_the_notebooks_tensors(notebook):
    """gradlab's kron is the notebook's analytic cell, its autograd the notebook's."""
    check = run_check(Case.notebook())
    assert torch.allclose(check.runs["kron"].grads["W"], notebook["grad_an"], rtol=0,
                          atol=4 * DTYPES["float32"].u)
    assert torch.allclose(check.runs["autograd"].grads["W"], notebook["grad_auto"], rtol=0,
                          atol=4 * DTYPES["float32"].u)


def test_float64_preset_delta_is_rounding_level():
    check = run_check(Case.notebook(dtype="float64"))
    u = DTYPES["float64"].u
    assert check.max_abs_diff["kron"] <= 8 * u * check.ref_max_abs
