"""The gradient methods, and the bug zoo of common derivation mistakes.

- ``autograd``: torch autograd on the layer's forward.
- ``structured``: the analytic gradient in O(mn), R and J never formed.
- ``kron``: the seed's per-neuron Kronecker view, R (m×m) and J = kron(I_m, xᵀ).

Each computes entirely in its inputs' dtype and records the dtype it ran in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from gradlab import layer
from gradlab.errors import GradlabError
from gradlab.inputs import Inputs

PARAMS = ("W", "x", "g", "b")
METHODS = ("autograd", "structured", "kron")
ANALYTIC = ("structured", "kron")

#: Derivation mistakes, by stable name. They are never the default.
VARIANTS: dict[str, str] = {
    "no-projection": "drops the a aᵀ term: R = I/u",
    "eps-missing": "leaves ε out of the a aᵀ term: D = m·mean(a²) instead of m u² (or m r u)",
    "wrong-mean": "drops the 1/m of the mean: D = u² (or r u) instead of m u² (or m r u)",
    "transposed": "lays the Kronecker product the wrong way round: J = kron(xᵀ, I_m)",
}


def check_variant(variant: str | None) -> None:
    if variant is not None and variant not in VARIANTS:
        raise GradlabError(
            f"variant must be one of {', '.join(VARIANTS)} (got {variant!r})"
        )


@dataclass(frozen=True)
class MethodRun:
    """One method's gradients (a subset of PARAMS), the dtype they were
    computed in, and the seconds it took."""

    name: str
    dtype: str
    grads: dict
    seconds: float
    u: object = None  # the forward's u per token, in the case dtype, where the method has it


def dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


@dataclass(frozen=True)
class Forward:
    """The forward quantities of every token, kept for the backward."""

    a: object
    u: object
    v: object


def forward(W, X, g, b, eps, placement) -> Forward:
    a = layer.pre_activation(W, X)
    u = layer.scale(a, eps, placement)
    return Forward(a, u, layer.output(a, u, g, b))


def denominator(a, u, eps, placement, variant):
    """D of the a aᵀ term, as derived correctly or as a variant gets it wrong."""
    if variant == "eps-missing":
        return (a**2).sum(axis=-1, keepdims=True)
    D = layer.projection_denominator(a, u, eps, placement)
    if variant == "wrong-mean":
        return D / a.shape[-1]
    return D


def rows(fw: Forward, g, eps, placement, variant=None):
    """∂L/∂a for every token, (batch, m)."""
    d = layer.d_output(fw.v)
    if variant == "no-projection":
        return (1 / fw.u) * (d * g)
    D = denominator(fw.a, fw.u, eps, placement, variant)
    return layer.d_pre_activation(fw.a, fw.u, D, d, g)


def structured_grads(W, X, g, b, eps, placement, variant=None) -> dict:
    """∂L/∂W = Rowsᵀ X, ∂L/∂x = Rows W, ∂L/∂g, ∂L/∂b: O(mn), on torch or numpy."""
    fw = forward(W, X, g, b, eps, placement)
    R = rows(fw, g, eps, placement, variant)
    if variant == "transposed":
        # The flattened n×m outer product x ⊗ row read back as m×n.
        dW = layer.matmul(X.T, R).reshape(W.shape)
    else:
        dW = layer.d_weight(R, X)
    d = layer.d_output(fw.v)
    return {"W": dW, "x": layer.d_input(R, W), "g": layer.d_gain(d, fw.a, fw.u),
            "b": layer.d_bias(d)}


def kron_R(a, u, D, variant=None):
    """R = (1/u)(I − a aᵀ/D) for one token, (m, m)."""
    I = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    if variant == "no-projection":
        return (1 / u) * I
    return (1 / u) * (I - torch.outer(a, a) / D)


def kron_J(x, m, variant=None):
    """J = kron(I_m, xᵀ), (m, m·n): row i holds xᵀ in block i (the Kronecker delta)."""
    I = torch.eye(m, dtype=x.dtype, device=x.device)
    if variant == "transposed":
        return torch.kron(x.unsqueeze(0), I)
    return torch.kron(I, x.unsqueeze(0))


def kron_weight(W, X, g, b, eps, placement, variant=None) -> torch.Tensor:
    """The seed's ∂L/∂W: Σ_tokens (row J).view(m, n), row = (d⊙g) R."""
    m, n = W.shape
    fw = forward(W, X, g, b, eps, placement)
    d = layer.d_output(fw.v)
    D = denominator(fw.a, fw.u, eps, placement, variant)
    grad = torch.zeros(m, n, dtype=W.dtype, device=W.device)
    for t in range(X.shape[0]):
        R = kron_R(fw.a[t], fw.u[t], D[t], variant)
        row = (d[t] * g) @ R
        grad += (row.unsqueeze(0) @ kron_J(X[t], m, variant)).view(m, n)
    return grad


def autograd_grads(W, X, g, b, eps, placement) -> dict:
    """torch.autograd on the same forward, with W, x, g, b as leaves."""
    return _autograd(W, X, g, b, eps, placement)[0]


def _autograd(W, X, g, b, eps, placement):
    leaves = [t.detach().requires_grad_(True) for t in (W, X, g, b)]
    fw = forward(*leaves, eps, placement)
    layer.loss(fw.v).backward()
    return dict(zip(PARAMS, (t.grad for t in leaves))), fw.u.detach()


def run_method(name: str, inputs: Inputs, placement: str, variant: str | None = None) -> MethodRun:
    """Run one method in the inputs' dtype; the variant applies to analytic methods."""
    args = (inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps, placement)
    start = time.perf_counter()
    u = None
    with torch.no_grad() if name != "autograd" else torch.enable_grad():
        if name == "autograd":
            grads, u = _autograd(*args)
        elif name == "structured":
            grads = structured_grads(*args, variant)
        elif name == "kron":
            grads = {"W": kron_weight(*args, variant)}
        else:
            raise GradlabError(f"method must be one of {', '.join(METHODS)} (got {name!r})")
    seconds = time.perf_counter() - start
    ran = {dtype_name(t) for t in grads.values()}
    if ran != {dtype_name(inputs.W)}:
        raise AssertionError(f"{name} ran in {ran}, not {dtype_name(inputs.W)}")
    return MethodRun(name, ran.pop(), grads, seconds, u)
