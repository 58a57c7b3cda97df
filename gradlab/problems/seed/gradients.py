"""The gradient methods, and the bug zoo of common derivation mistakes.

- ``autograd``: torch autograd on the layer's forward.
- ``structured``: the analytic gradient in O(mn), R and J never formed, as a
  lean torch kernel (``structured_grads``); ``formula_grads`` computes the same
  from layer.py's formulas as derived, on torch or numpy (the reference's path).
- ``kron``: the seed's per-neuron Kronecker view, R (m×m) and J = kron(I_m, xᵀ).

Each computes entirely in its inputs' dtype and records the dtype it ran in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import dtype_name
from gradlab.core.errors import GradlabError
from gradlab.core.memory import huge_empty
from gradlab.core.precise import mean_last, sum_last
from gradlab.problems.seed import layer
from gradlab.problems.seed.inputs import Inputs

__all__ = [
    "ANALYTIC", "autograd_grads", "check_params", "check_variant", "denominator", "formula_grads",
    "Forward", "forward", "fresh", "kron_J", "kron_R", "kron_weight", "MethodRun", "METHODS",
    "PARAMS", "projection_k", "rows", "rows_times", "run_method", "structured_grads", "VARIANTS"
]

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


def check_params(params) -> tuple[str, ...]:
    """``params`` as a tuple in PARAMS' order: a non-empty subset of PARAMS that holds W
    (every verdict is on dL/dW)."""
    asked = tuple(params) if not isinstance(params, str) else (params,)
    for name in asked:
        if name not in PARAMS:
            raise GradlabError(f"params must be among {', '.join(PARAMS)} (got {name!r})",
                               "params")
    if "W" not in asked:
        raise GradlabError(f"params must include W, whose gradient every verdict is on "
                           f"(got {', '.join(asked) or 'none'})", "params")
    return tuple(p for p in PARAMS if p in asked)


def check_variant(variant: str | None) -> None:
    if variant is not None and variant not in VARIANTS:
        raise GradlabError(
            f"variant must be one of {', '.join(VARIANTS)} (got {variant!r})", "variant"
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
    overflow: str | None = None  # where the method's own intermediates overflow the dtype


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
        return sum_last(a**2, keepdim=True)
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


def formula_grads(W, X, g, b, eps, placement, variant=None) -> dict:
    """∂L/∂W = Rowsᵀ X, ∂L/∂x = Rows W, ∂L/∂g, ∂L/∂b from layer.py's formulas, as
    derived (with D), on torch or numpy: the reference's path, in its precision."""
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


def structured_grads(W, X, g, b, eps, placement, variant=None, params=PARAMS) -> dict:
    """The ``structured`` method: the analytic gradients in O(mn) as a lean torch
    kernel, R and J never formed.

    Write â = a/u. The projection term of row = (dg − a (a·dg)/D)/u is
    a (a·dg)/D = k â (â·dg) with k = u²/D (``projection_k``), so per token

        v = g ⊙ â + b,   d = ∂L/∂v = 2v,   dg = d ⊙ g,   row = (dg − k â (â·dg))/u
        ∂L/∂W = Σ row xᵀ,   ∂L/∂x = row W,   ∂L/∂g = Σ d ⊙ â,   ∂L/∂b = Σ d.

    The same mathematics as ``formula_grads`` in about half the torch operations:
    1/u once, â once, and a single token as vectors (matrix-vector, dot and
    outer products). mean(a²) is taken as a mean (torch accumulates it in
    float32 for the half types and divides before rounding), never as Σa²,
    which overflows float16 where mean(a²) does not. Only the gradients of
    ``params`` are formed (dL/dW's bits do not depend on the others).
    """
    m = W.shape[0]
    x = X[0] if X.shape[0] == 1 else X                 # one token: a vector
    a = torch.mv(W, x) if x.dim() == 1 else x @ W.T    # a = W x, per token
    ms = mean_last(a * a, keepdim=x.dim() > 1)         # mean(a²)
    if placement == layer.INSIDE:
        inv_u = torch.rsqrt(ms + eps)                  # u = sqrt(mean(a²) + ε)
    else:
        inv_u = (ms.sqrt() + eps).reciprocal()         # u = sqrt(mean(a²)) + ε
    a_hat = a * inv_u                                  # â = a/u
    v = torch.addcmul(b, g, a_hat)                     # v = g ⊙ â + b
    d = v + v                                          # ∂L/∂v = 2v
    dg = d * g                                         # ∂L/∂â = d ⊙ g
    k = projection_k(ms, eps, m, placement, variant)
    c = _dot_last(a_hat, dg)                           # â·dg
    if isinstance(k, float):                           # row = (dg − k â (â·dg))/u
        row = torch.addcmul(dg, a_hat, c, value=-k)
    else:
        row = torch.addcmul(dg, a_hat, c * k, value=-1)
    row = row.mul_(inv_u)
    rows = row.reshape(-1, m)
    if variant == "transposed":
        # The flattened n×m outer product x ⊗ row read back as m×n.
        dW = layer.matmul(X.T, rows).reshape(W.shape)
    else:
        dW = torch.outer(row, x, out=fresh(W)) if x.dim() == 1 else torch.mm(rows.T, X,
                                                                             out=fresh(W))
    parts = {"W": lambda: dW, "x": lambda: rows_times(rows, W),
             "g": lambda: _over_tokens(d * a_hat), "b": lambda: _over_tokens(d)}
    return {p: parts[p]() for p in params}


def fresh(W: torch.Tensor) -> torch.Tensor:
    """An empty array of W's shape, dtype and device for dL/dW: on the CPU in
    ``huge_empty`` memory, which a large dL/dW fills without faulting its 4 KiB pages
    in one at a time (about 10 ms of structured's 12 ms at m = n = 2048 in float32)."""
    if W.device.type != "cpu":
        return torch.empty_like(W)
    return huge_empty(tuple(W.shape), W.dtype)


def projection_k(ms, eps, m, placement, variant=None):
    """k = u²/D, the weight of â (â·dg) in the projection term (ms = mean(a²)).

    inside: D = m u², so k = 1/m. outside: D = m r u with r = √ms and u = r + ε, so
    k = (u/r)/m. eps-missing gets D = Σa² = m·ms, so k = (u²/ms)/m; wrong-mean drops
    the m of D; no-projection drops the term (k = 0). With ε = 0 every correct k
    is 1/m. Every ratio is of like magnitudes (u/r, u²/ms), so k stays finite in
    float16 where 1/u² would overflow. A float where k does not depend on the token.
    """
    if variant == "no-projection":
        return 0.0
    if variant == "eps-missing":
        if placement == layer.INSIDE:
            k = (ms + eps) / ms / m                                # u²/(m·ms)
        else:
            r = ms.sqrt()
            k = ((r + eps) / r).square() / m
    elif placement == layer.INSIDE:
        k = 1 / m
    else:
        r = ms.sqrt()
        k = (r + eps) / r / m                                      # u/(m r)
    return k * m if variant == "wrong-mean" else k


def _dot_last(p, q):
    """p·q over the last axis, kept as an axis of length 1 (a 0-d tensor for vectors).

    Σ p ⊙ q by ``sum_last``, not BLAS ``torch.dot``: MKL splits a float64 dot of
    4096 entries (float32: 8192) across threads, so its last bits changed with the
    thread count and a sweep on one-thread workers did not reproduce a serial run.
    """
    return sum_last(p * q, keepdim=p.dim() > 1)


def _over_tokens(t):
    """Σ over tokens (a single token's vector is its own sum)."""
    return t if t.dim() == 1 else t.sum(0)


def rows_times(rows, W):
    """∂L/∂x = Rows W, (batch, n).

    On the CPU a float32 or float64 matrix-vector product runs on one core
    (BLAS gemv). Split into two half products along m, one batched matmul runs
    them on two cores, and their sum costs one n-vector: 1.1–1.6× faster from
    m·n = 2²⁰ up (measured at m = n = 1024 and 4096, float32 and float64;
    slower below). Half types keep the plain product: their CPU kernels
    accumulate in float32 and round once, and a split would round twice.
    """
    T, m = rows.shape
    if (W.device.type != "cpu" or W.dtype not in (torch.float32, torch.float64)
            or m % 2 or W.numel() < 1 << 20 or torch.get_num_threads() < 2):
        return rows @ W
    h = m // 2
    halves = rows.reshape(T, 2, h).transpose(0, 1)           # (2, T, m/2)
    return torch.bmm(halves, W.reshape(2, h, -1)).sum(0)


def kron_R(a, u, D, variant=None):
    """R = (1/u)(I − a aᵀ/D) for one token, (m, m): the seed's formula, as written."""
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


def kron_weight(W, X, g, b, eps, placement, variant=None) -> tuple[torch.Tensor, str | None]:
    """The seed's ∂L/∂W: Σ_tokens (row J).view(m, n), row = (d⊙g) R; and, where the
    seed's own a aᵀ/D leaves the dtype's normal range while u does not (D = m u²
    overflows float16 at large activations; a aᵀ and D underflow to subnormals at
    tiny ones, losing their digits), a note saying so: the result is then not the
    formula's in that dtype."""
    m, n = W.shape
    fw = forward(W, X, g, b, eps, placement)
    d = layer.d_output(fw.v)
    D = denominator(fw.a, fw.u, eps, placement, variant)
    grad = torch.zeros(m, n, dtype=W.dtype, device=W.device)
    overflow = None
    for t in range(X.shape[0]):
        R = kron_R(fw.a[t], fw.u[t], D[t], variant)
        if overflow is None and variant != "no-projection":
            overflow = _out_of_range(fw.a[t], fw.u[t], D[t])
        row = (d[t] * g) @ R
        grad += (row.unsqueeze(0) @ kron_J(X[t], m, variant)).view(m, n)
    return grad, overflow


def _out_of_range(a, u, D) -> str | None:
    """Why the seed's a aᵀ/D is not computed faithfully in a's dtype, or None: D or the
    largest a_i a_j overflows, or is a nonzero subnormal (fewer digits than the
    dtype's u). Only where u itself is finite and nonzero."""
    if not bool(torch.isfinite(u).all()) or not bool((u != 0).all()):
        return None
    peak = a.abs().max() ** 2                          # the largest a_i a_j, in the dtype
    tiny = torch.finfo(a.dtype).tiny
    values = {"D": float(D.double().max()), "max a_i a_j": float(a.double().abs().max()) ** 2}
    shown = ", ".join(f"{k} = {v:.3g}" for k, v in values.items())
    if not (bool(torch.isfinite(D).all()) and bool(torch.isfinite(peak))):
        return (f"kron: the seed's R = (1/u)(I − a aᵀ/D) overflows {dtype_name(a.dtype)} "
                f"here ({shown})")
    if 0 < float(peak) < tiny or 0 < float(D.abs().min()) < tiny:
        return (f"kron: the seed's a aᵀ/D underflows to {dtype_name(a.dtype)} subnormals here "
                f"({shown}; the smallest normal is {tiny:.3g})")
    return None


def autograd_grads(W, X, g, b, eps, placement, params=PARAMS) -> dict:
    """torch.autograd on the same forward, with ``params`` (of W, x, g, b) as leaves
    that require their gradient: the backward forms only theirs."""
    return _autograd(W, X, g, b, eps, placement, params)[0]


def _autograd(W, X, g, b, eps, placement, params=PARAMS):
    leaves = [t.detach().requires_grad_(p in params) for p, t in zip(PARAMS, (W, X, g, b))]
    fw = forward(*leaves, eps, placement)
    layer.loss(fw.v).backward()
    return {p: t.grad for p, t in zip(PARAMS, leaves) if p in params}, fw.u.detach()


def run_method(name: str, inputs: Inputs, placement: str, variant: str | None = None,
               params=PARAMS) -> MethodRun:
    """Run one method in the inputs' dtype; the variant applies to analytic methods.
    ``params``: the gradients to form (kron forms dL/dW alone)."""
    args = (inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps, placement)
    start = time.perf_counter()
    u = None
    with torch.no_grad() if name != "autograd" else torch.enable_grad():
        if name == "autograd":
            grads, u = _autograd(*args, params)
        elif name == "structured":
            grads = structured_grads(*args, variant, params)
        elif name == "kron":
            dW, overflow = kron_weight(*args, variant)
            grads = {"W": dW}
        else:
            raise GradlabError(f"method must be one of {', '.join(METHODS)} (got "
                               f"{name!r})", "method")
    seconds = time.perf_counter() - start
    ran = {dtype_name(t.dtype) for t in grads.values()}
    note = overflow if name == "kron" else None
    if ran != {dtype_name(inputs.W.dtype)}:
        raise AssertionError(f"{name} ran in {ran}, not {dtype_name(inputs.W.dtype)}")
    return MethodRun(name, ran.pop(), grads, seconds, u, note)
