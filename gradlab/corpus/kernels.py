r"""Hand-written backward passes in the styles real projects use, as corpus entries.

Each kernel is a ``torch.autograd.Function`` with its forward and backward side by
side (each line's formula in its comment) and the same mathematics in plain torch
ops as its reference, which autograd differentiates:

    blockwise_attention   O = softmax(q kᵀ·s) v by key blocks with an online softmax
                          (FlashAttention-2): running max m and sum ℓ, L = m + log ℓ
                          saved; the backward recomputes P_j = exp(q k_jᵀ·s − L) per
                          block, with D = rowsum(∂O ⊙ O).
                          ``.ill_conditioned``: the same kernel on q and k whose
                          channel 0 is scaled 100× (scores up to about ±1e4)
    sequential_linear     y = x Wᵀ + b; ∂W = Σ_i ∂y_i x_iᵀ and ∂b = Σ_i ∂y_i by a
                          running sum over the rows, one row per step, in the dtype
    linear_attention      S_t = S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t: a scan forward, the
                          reverse scan backward
    clamp                 y = clamp(x, −1, 1), the kernel's mask strict at the kinks
                          (F.hardtanh's convention), the reference's inclusive (torch.clamp's)
    sparsemax             p = max(z − τ(z), 0), the projection onto the simplex;
                          ∂z = s ⊙ (g − mean_s(g)) on the support s = {p > 0}
    compiled_layernorm    torch.compile of LayerNorm in plain ops against itself eager

Every kernel computes in its inputs' dtype; where a real kernel deliberately keeps
a statistic or an accumulator in float32 (FlashAttention's m, ℓ, L, D and ∂q) this
one does too, in float64 for float64 inputs (``accumulation_dtype``), and its
docstring says so. Beside each kernel sit the mistakes real kernels make (a wrong
scale, a dropped term, a wrong mask, one block left out, a transposed output) as
``Planted`` entries, "mistake.<kernel>.<what>".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.corpus.entry import Entry, Skipped

__all__ = [
    "accumulation_dtype", "attention_inputs", "attention_reference", "ATTENTION_SHAPE", "BLOCK",
    "blockwise_attention", "BlockwiseAttention", "Clamp", "clamp", "clamp_reference",
    "compile_failure", "compiled_dtypes", "COMPILED_LAYER_NORM", "compiled_layer_norm",
    "ill_conditioned_qkv", "Kernel", "kernel_entries", "kernel_mistakes", "kernel_skipped",
    "KERNELS", "key_blocks", "layer_norm", "layer_norm_inputs", "linear_attention",
    "linear_attention_inputs", "linear_attention_reference", "linear_inputs", "LinearAttention",
    "mat_vec", "MISTAKES", "outer", "Planted", "scores", "sequential_linear",
    "sequential_linear_reference", "SequentialLinear", "softmax_scale", "Sparsemax", "sparsemax",
    "sparsemax_reference", "sparsemax_threshold"
]

FAMILY = "kernel"
#: The tag of a planted mistake's entry; ``touches:<input>`` tags name the
#: gradients it alters.
MISTAKE_TAG = "mistake"
#: Tensor inputs are drawn from ``torch.Generator().manual_seed(SEED_OFFSET + seed)``,
#: apart from verify's own stream (seeds < 2³²) and its side stream (2³² + seed).
SEED_OFFSET = 2**33


#: The dtypes real kernels accumulate in float32.
HALF_DTYPES = (torch.bfloat16, torch.float16)


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a real kernel accumulates in: float32, float64 for float64 inputs."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------------------------------
# 1. Blockwise attention with an online softmax (FlashAttention-2 style)
# ---------------------------------------------------------------------------------------

#: (batch, heads, sequence, head dim) of q, k and v.
ATTENTION_SHAPE = (2, 2, 128, 32)
#: Keys per block: 128 keys make 4 blocks.
BLOCK = 32
#: The ill-conditioned variant: channel 0 of q and k multiplied by this.
ILL_CONDITIONED_FACTOR = 100.0


def softmax_scale(q: torch.Tensor) -> float:
    """s = 1/√D for head dimension D."""
    return q.shape[-1] ** -0.5


def scores(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """S = (q·s) kᵀ, q scaled first (FlashAttention's reference order: no overflow in
    float16 for scores that fit)."""
    return (q * scale) @ k.transpose(-2, -1)


def attention_reference(q, k, v):
    """O = softmax(q kᵀ·s) v, s = 1/√D, in plain torch ops."""
    return torch.softmax(scores(q, k, softmax_scale(q)), -1) @ v


def key_blocks(length: int) -> list[slice]:
    """The key blocks [0, BLOCK), [BLOCK, 2·BLOCK), … covering ``length`` keys."""
    return [slice(start, min(start + BLOCK, length)) for start in range(0, length, BLOCK)]


class BlockwiseAttention(torch.autograd.Function):
    """O = softmax(q kᵀ·s) v over key blocks j with an online softmax.

    Forward, per block, with m, ℓ, A in the accumulation dtype (float32; float64 for
    float64 inputs) as FlashAttention keeps them, S_j and the P̃_j v_j product in the
    inputs' dtype::

        m' = max(m, rowmax S_j),  P̃_j = exp(S_j − m'),  α = exp(m − m')
        ℓ' = α ℓ + rowsum P̃_j,   A' = α A + P̃_j v_j;   O = A/ℓ,  L = m + log ℓ

    Backward, recomputing P_j = exp(S_j − L) from the saved logsumexp L, with
    D = rowsum(∂O ⊙ O) and ∂q accumulated in the accumulation dtype::

        ∂v_j = P_jᵀ ∂O,  ∂P_j = ∂O v_jᵀ,  ∂S_j = P_j ⊙ (∂P_j − D)
        ∂q = Σ_j ∂S_j k_j·s,  ∂k_j = ∂S_jᵀ q·s

    ``mistake``: "no_scale_dq" drops s from ∂q, "no_D" takes ∂S_j = P_j ⊙ ∂P_j,
    "last_block_skipped" leaves the last key block out of the backward.
    """

    @staticmethod
    def forward(ctx, q, k, v, mistake=None):
        scale, wide = softmax_scale(q), accumulation_dtype(q.dtype)
        m = torch.full((*q.shape[:-1], 1), -math.inf, dtype=wide)      # running max
        ell = torch.zeros((*q.shape[:-1], 1), dtype=wide)               # running sum
        acc = torch.zeros((*q.shape[:-1], v.shape[-1]), dtype=wide)     # running P̃ v
        for j in key_blocks(k.shape[-2]):
            s_j = scores(q, k[..., j, :], scale)                        # S_j = q k_jᵀ·s
            m_new = torch.maximum(m, s_j.amax(-1, keepdim=True).to(wide))  # m' = max(m, rowmax)
            p_j = torch.exp(s_j.to(wide) - m_new)                       # P̃_j = exp(S_j − m')
            alpha = torch.exp(m - m_new)                                # α = exp(m − m')
            ell = alpha * ell + p_j.sum(-1, keepdim=True)               # ℓ' = α ℓ + rowsum P̃_j
            acc = alpha * acc + (p_j.to(q.dtype) @ v[..., j, :]).to(wide)  # A' = α A + P̃_j v_j
            m = m_new
        out = (acc / ell).to(q.dtype)                                   # O = A/ℓ
        lse = m + torch.log(ell)                                        # L = m + log ℓ
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.mistake = mistake
        return out

    @staticmethod
    def backward(ctx, d_out):
        q, k, v, out, lse = ctx.saved_tensors
        scale, wide, mistake = softmax_scale(q), lse.dtype, ctx.mistake
        big_d = (d_out.to(wide) * out.to(wide)).sum(-1, keepdim=True)  # D = rowsum(∂O ⊙ O)
        dq = torch.zeros(q.shape, dtype=wide)
        dk, dv = torch.zeros_like(k), torch.zeros_like(v)
        blocks = key_blocks(k.shape[-2])
        if mistake == "last_block_skipped":
            blocks = blocks[:-1]
        dq_scale = 1.0 if mistake == "no_scale_dq" else scale
        for j in blocks:
            k_j, v_j = k[..., j, :], v[..., j, :]
            p_j = torch.exp(scores(q, k_j, scale).to(wide) - lse)       # P_j = exp(S_j − L)
            dv[..., j, :] = p_j.to(q.dtype).transpose(-2, -1) @ d_out   # ∂v_j = P_jᵀ ∂O
            dp_j = (d_out @ v_j.transpose(-2, -1)).to(wide)             # ∂P_j = ∂O v_jᵀ
            if mistake == "no_D":
                ds_j = (p_j * dp_j).to(q.dtype)
            else:
                ds_j = (p_j * (dp_j - big_d)).to(q.dtype)               # ∂S_j = P_j ⊙ (∂P_j − D)
            dq += (ds_j @ k_j).to(wide) * dq_scale                      # ∂q += ∂S_j k_j·s
            dk[..., j, :] = ds_j.transpose(-2, -1) @ q * scale          # ∂k_j = ∂S_jᵀ q·s
        return dq.to(q.dtype), dk, dv, None


def blockwise_attention(q, k, v):
    """The hand-written blockwise attention (``BlockwiseAttention``)."""
    return BlockwiseAttention.apply(q, k, v)


def attention_inputs(seed: int) -> dict:
    """q, k, v: ATTENTION_SHAPE, drawn by verify."""
    return {"q": ATTENTION_SHAPE, "k": ATTENTION_SHAPE, "v": ATTENTION_SHAPE}


def ill_conditioned_qkv(seed: int) -> dict:
    """q, k, v: ATTENTION_SHAPE, N(0, 1) in float64 from the generator seeded
    SEED_OFFSET + seed, with channel 0 of q and k multiplied by
    ILL_CONDITIONED_FACTOR: scores (q·s) kᵀ reach about ±1e4, the softmax is all but
    one-hot and rounding S to the dtype moves P by far more than u."""
    gen = torch.Generator().manual_seed(SEED_OFFSET + seed)
    q, k, v = (torch.randn(ATTENTION_SHAPE, generator=gen, dtype=torch.float64)
               for _ in range(3))
    q[..., 0] *= ILL_CONDITIONED_FACTOR
    k[..., 0] *= ILL_CONDITIONED_FACTOR
    return {"q": q, "k": k, "v": v}


# ---------------------------------------------------------------------------------------
# 2. A linear layer whose ∂W and ∂b are running sums over the rows
# ---------------------------------------------------------------------------------------

#: x: ROWS × FEATURES, W: FEATURES × FEATURES (square, so ∂Wᵀ has ∂W's shape).
ROWS, FEATURES = 4096, 64


def sequential_linear_reference(x, weight, bias):
    """y = x Wᵀ + b in plain torch ops (autograd's ∂W is one matmul)."""
    return x @ weight.transpose(0, 1) + bias


class SequentialLinear(torch.autograd.Function):
    """y = x Wᵀ + b, whose backward sums ∂W and ∂b row by row::

        ∂x = ∂y W,   ∂W ← ∂W + ∂y_i x_iᵀ,   ∂b ← ∂b + ∂y_i     (i = 1 … n, in order)

    one rounding per step and entry in the accumulation dtype (float32 for bfloat16
    and float16 inputs, as real kernels accumulate; the inputs' own dtype otherwise),
    as a kernel that accumulates over the batch in a loop does: its error grows like
    u·√n where a pairwise or blocked sum's grows like u·log n (tens of u at n = 4096
    in float32).

    ``mistake``: "transposed_dw" returns Σ x_i ∂y_iᵀ, "last_row_skipped" stops the
    sums one row early, "bias_mean" divides ∂b by n.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, mistake=None):
        ctx.save_for_backward(x, weight)
        ctx.mistake = mistake
        return x @ weight.transpose(0, 1) + bias                        # y = x Wᵀ + b

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        mistake = ctx.mistake
        dx = dy @ weight                                                # ∂x = ∂y W
        acc = accumulation_dtype(dy.dtype) if dy.dtype in HALF_DTYPES else dy.dtype
        dw = torch.zeros(weight.shape, dtype=acc)
        db = torch.zeros(weight.shape[0], dtype=acc)
        rows = x.shape[0] - 1 if mistake == "last_row_skipped" else x.shape[0]
        left, right = (x, dy) if mistake == "transposed_dw" else (dy, x)
        left, right, dy_acc = left.to(acc), right.to(acc), dy.to(acc)
        for i in range(rows):
            dw.addr_(left[i], right[i])                                 # ∂W += ∂y_i x_iᵀ
            db.add_(dy_acc[i])                                          # ∂b += ∂y_i
        if mistake == "bias_mean":
            db = db / x.shape[0]
        return dx, dw.to(dy.dtype), db.to(dy.dtype), None


def sequential_linear(x, weight, bias):
    """The row-by-row linear backward (``SequentialLinear``)."""
    return SequentialLinear.apply(x, weight, bias)


def linear_inputs(seed: int) -> dict:
    """x: ROWS × FEATURES, weight: FEATURES × FEATURES, bias: FEATURES, drawn by verify."""
    return {"x": (ROWS, FEATURES), "weight": (FEATURES, FEATURES), "bias": (FEATURES,)}


# ---------------------------------------------------------------------------------------
# 3. Causal linear attention, recurrent
# ---------------------------------------------------------------------------------------

#: (batch, heads, time, head dim) of q, k and v (D_k = D_v, so S_tᵀ has S_t's shape).
LINEAR_ATTENTION_SHAPE = (2, 2, 64, 16)


def linear_attention_reference(q, k, v):
    """o = (q kᵀ ⊙ C) v, C the causal mask (s ≤ t), in plain torch ops."""
    return torch.tril(q @ k.transpose(-2, -1)) @ v


def outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a bᵀ per leading index: (…, m) × (…, n) → (…, m, n)."""
    return a.unsqueeze(-1) * b.unsqueeze(-2)


def mat_vec(matrix: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """M x per leading index: (…, m, n) × (…, n) → (…, m)."""
    return (matrix @ vector.unsqueeze(-1)).squeeze(-1)


class LinearAttention(torch.autograd.Function):
    """Causal linear attention as a recurrence, in the inputs' dtype::

        S_t = S_{t−1} + k_t v_tᵀ,   o_t = S_tᵀ q_t                    (t = 1 … T)

    Backward: the forward scan again for ∂q, the reverse scan for ∂k and ∂v, with
    dS_t = Σ_{s≥t} q_s ∂o_sᵀ::

        ∂q_t = S_t ∂o_t;   dS_t = dS_{t+1} + q_t ∂o_tᵀ,  ∂k_t = dS_t v_t,  ∂v_t = dS_tᵀ k_t

    ``mistake``: "strict_mask" takes dS_{t+1} for ∂k_t and ∂v_t (the causal mask off
    by one: s > t), "transposed_dq" takes ∂q_t = S_tᵀ ∂o_t.
    """

    @staticmethod
    def forward(ctx, q, k, v, mistake=None):
        state = torch.zeros((*q.shape[:-2], k.shape[-1], v.shape[-1]), dtype=q.dtype)
        out = torch.empty((*q.shape[:-1], v.shape[-1]), dtype=q.dtype)
        for t in range(q.shape[-2]):
            state = state + outer(k[..., t, :], v[..., t, :])           # S_t = S_{t−1} + k_t v_tᵀ
            out[..., t, :] = mat_vec(state.transpose(-2, -1), q[..., t, :])  # o_t = S_tᵀ q_t
        ctx.save_for_backward(q, k, v)
        ctx.mistake = mistake
        return out

    @staticmethod
    def backward(ctx, d_out):
        q, k, v = ctx.saved_tensors
        mistake = ctx.mistake
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        length = q.shape[-2]
        state = torch.zeros((*q.shape[:-2], k.shape[-1], v.shape[-1]), dtype=q.dtype)
        for t in range(length):
            state = state + outer(k[..., t, :], v[..., t, :])           # S_t
            s_t = state.transpose(-2, -1) if mistake == "transposed_dq" else state
            dq[..., t, :] = mat_vec(s_t, d_out[..., t, :])               # ∂q_t = S_t ∂o_t
        d_state = torch.zeros_like(state)
        for t in reversed(range(length)):
            step = outer(q[..., t, :], d_out[..., t, :])                # q_t ∂o_tᵀ
            if mistake != "strict_mask":
                d_state = d_state + step                        # dS_t = dS_{t+1} + q_t ∂o_tᵀ
            dk[..., t, :] = mat_vec(d_state, v[..., t, :])               # ∂k_t = dS_t v_t
            dv[..., t, :] = mat_vec(d_state.transpose(-2, -1), k[..., t, :])  # ∂v_t = dS_tᵀ k_t
            if mistake == "strict_mask":
                d_state = d_state + step
        return dq, dk, dv, None


def linear_attention(q, k, v):
    """The recurrent linear attention (``LinearAttention``)."""
    return LinearAttention.apply(q, k, v)


def linear_attention_inputs(seed: int) -> dict:
    """q, k, v: LINEAR_ATTENTION_SHAPE, drawn by verify."""
    shape = LINEAR_ATTENTION_SHAPE
    return {"q": shape, "k": shape, "v": shape}


# ---------------------------------------------------------------------------------------
# 4. Piecewise-linear activations: a clamp and sparsemax
# ---------------------------------------------------------------------------------------

#: The clamp's kinks.
CLAMP_LOW, CLAMP_HIGH = -1.0, 1.0
#: x of the clamp: N(0, 1), so about a third of the entries lie outside [−1, 1].
CLAMP_SHAPE = (64, 64)
#: z of sparsemax: rows of SPARSEMAX_SHAPE[-1] scores.
SPARSEMAX_SHAPE = (64, 32)


def clamp_reference(x):
    """y = clamp(x, −1, 1) in plain torch ops: autograd passes ∂y where −1 ≤ x ≤ 1
    (torch.clamp's mask, inclusive at the kinks)."""
    return torch.clamp(x, CLAMP_LOW, CLAMP_HIGH)


class Clamp(torch.autograd.Function):
    """y = clamp(x, −1, 1) with the mask strict at the kinks (F.hardtanh's convention)::

        ∂x = ∂y ⊙ 1[−1 < x < 1]

    It differs from the reference's inclusive mask only where x is exactly ±1, which
    a float64 or float32 N(0, 1) draw never is and its bfloat16 or float16 rounding
    sometimes is: both are subgradients there.

    ``mistake``: "mask_shifted" reads the mask one entry to the right (an
    off-by-one in the kernel's mask index).
    """

    @staticmethod
    def forward(ctx, x, mistake=None):
        ctx.save_for_backward(x)
        ctx.mistake = mistake
        return torch.clamp(x, CLAMP_LOW, CLAMP_HIGH)                    # y = clamp(x, −1, 1)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        inside = (x > CLAMP_LOW) & (x < CLAMP_HIGH)                     # 1[−1 < x < 1]
        if ctx.mistake == "mask_shifted":
            inside = torch.roll(inside, 1, -1)
        return torch.where(inside, dy, torch.zeros_like(dy)), None      # ∂x = ∂y ⊙ 1[−1 < x < 1]


def clamp(x):
    """The hand-written clamp (``Clamp``)."""
    return Clamp.apply(x)


def sparsemax_threshold(z: torch.Tensor) -> torch.Tensor:
    """τ(z) = (Σ_{j≤k} z_(j) − 1)/k per row, z_(1) ≥ z_(2) ≥ … sorted and
    k = max{j : 1 + j·z_(j) > Σ_{i≤j} z_(i)} (k ≥ 1), in z's dtype; differentiable
    (sort, cumsum and gather) for the reference."""
    ordered = torch.sort(z, -1, descending=True).values
    partial = ordered.cumsum(-1)                                        # Σ_{i≤j} z_(i)
    j = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    k = (1 + j * ordered > partial).sum(-1, keepdim=True)               # support size k
    return (partial.gather(-1, k - 1) - 1) / k.to(z.dtype)              # τ = (Σ_{j≤k} z_(j) − 1)/k


def sparsemax_reference(z):
    """p = max(z − τ(z), 0) in plain torch ops, differentiated through τ's sort."""
    return torch.clamp(z - sparsemax_threshold(z), min=0)


class Sparsemax(torch.autograd.Function):
    """p = max(z − τ(z), 0) per row (Martins & Astudillo 2016), with s = 1[p > 0]::

        ∂z = s ⊙ (g − Σ(s ⊙ g)/Σ s)

    ``mistake``: "no_mean" drops the support mean (∂z = s ⊙ g), "mean_over_all"
    takes the mean over the whole row instead of the support (a wrong scale).
    """

    @staticmethod
    def forward(ctx, z, mistake=None):
        p = torch.clamp(z - sparsemax_threshold(z), min=0)              # p = max(z − τ, 0)
        ctx.save_for_backward(p)
        ctx.mistake = mistake
        return p

    @staticmethod
    def backward(ctx, g):
        (p,) = ctx.saved_tensors
        support = (p > 0).to(g.dtype)                                   # s = 1[p > 0]
        count = support.sum(-1, keepdim=True)                           # Σ s
        if ctx.mistake == "mean_over_all":
            count = torch.full_like(count, g.shape[-1])
        mean = (support * g).sum(-1, keepdim=True) / count              # Σ(s ⊙ g)/Σ s
        if ctx.mistake == "no_mean":
            mean = torch.zeros_like(mean)
        return support * (g - mean), None                               # ∂z = s ⊙ (g − mean)


def sparsemax(z):
    """The hand-written sparsemax (``Sparsemax``)."""
    return Sparsemax.apply(z)


# ---------------------------------------------------------------------------------------
# 5. torch.compile of LayerNorm in plain ops, against the same function eager
# ---------------------------------------------------------------------------------------

LAYER_NORM_EPS = 1e-5
#: x: LAYER_NORM_ROWS × LAYER_NORM_WIDTH (small: inductor compiles it in seconds).
LAYER_NORM_ROWS, LAYER_NORM_WIDTH = 16, 64
#: Compiles at most this many graphs of ``layer_norm`` (4 dtypes × with and without
#: autograd, and room to spare); fullgraph=True makes one more an error, never a
#: silent fallback to eager.
RECOMPILE_LIMIT = 16


def layer_norm(x, weight, bias):
    """y = w ⊙ (x − μ)/sqrt(mean((x − μ)²) + ε) + b per row, in plain torch ops."""
    centred = x - x.mean(-1, keepdim=True)
    variance = (centred * centred).mean(-1, keepdim=True)
    return centred * torch.rsqrt(variance + LAYER_NORM_EPS) * weight + bias


@functools.cache
def _compiled() -> Callable:
    """torch.compile(layer_norm), made once per process; inductor compiles it once
    per dtype (and autograd mode), on first call."""
    return torch.compile(layer_norm, fullgraph=True, dynamic=False,
                         recompile_limit=RECOMPILE_LIMIT)


def compiled_layer_norm(x, weight, bias):
    """``layer_norm`` compiled by inductor (compiled on first call in a dtype)."""
    return _compiled()(x, weight, bias)


def layer_norm_inputs(seed: int) -> dict:
    """x: LAYER_NORM_ROWS × LAYER_NORM_WIDTH, weight and bias: LAYER_NORM_WIDTH."""
    width = LAYER_NORM_WIDTH
    return {"x": (LAYER_NORM_ROWS, width), "weight": (width,), "bias": (width,)}


@functools.cache
def compile_failure(dtype: str) -> str | None:
    """Why ``compiled_layer_norm`` cannot run in ``dtype`` here, or None when it can:
    compiles it for the corpus's shapes (forward and backward, once per process and
    dtype) and checks that it computes in ``dtype``."""
    torch_dtype = dtype_info(dtype).torch_dtype
    args = [torch.zeros(s, dtype=torch_dtype).requires_grad_()
            for s in layer_norm_inputs(0).values()]
    try:
        out = compiled_layer_norm(*args)
        grads = torch.autograd.grad(out, args, torch.ones_like(out))
    except Exception as exc:  # no compiler, an inductor or dynamo error
        line = (str(exc).strip().splitlines() or [""])[0]
        return f"inductor cannot compile it in {dtype}: {type(exc).__name__}: {line}"[:300]
    wrong = [t.dtype for t in (out, *grads) if t.dtype != torch_dtype]
    if wrong:
        return f"the compiled function computes in {wrong[0]}, not {dtype}"
    return None


# ---------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kernel:
    """A hand-written backward and its reference: ``inputs(seed)`` gives verify's
    inputs (shapes, or float64 tensors drawn from SEED_OFFSET + seed)."""

    name: str
    formula: str
    candidate: Callable
    reference: Callable
    inputs: Callable[[int], dict]
    note: str = ""
    tags: tuple[str, ...] = ()

    def entry(self, seed: int) -> Entry:
        return Entry(name=f"kernel.{self.name}", family=FAMILY, candidate=self.candidate,
                     reference=self.reference, inputs=self.inputs(seed), dtypes=DTYPE_NAMES,
                     reference_kind="formula", note=f"{self.formula}. {self.note}".strip(),
                     tags=self.tags)


@dataclass(frozen=True)
class Planted:
    """A mistake planted in kernel ``kernel`` (a ``Kernel.name``): ``fn`` runs the
    kernel with it; ``touches`` are the inputs whose gradient it alters."""

    kernel: str
    what: str
    description: str
    fn: Callable
    touches: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"mistake.{self.kernel}.{self.what}"


KERNELS: tuple[Kernel, ...] = (
    Kernel("blockwise_attention",
           "O = softmax(q kᵀ/√D) v by key blocks of 32 with an online softmax; backward "
           "recomputes P_j = exp(S_j − L), ∂S_j = P_j ⊙ (∂P_j − D), D = rowsum(∂O ⊙ O)",
           blockwise_attention, attention_reference, attention_inputs,
           "m, ℓ, L, D and ∂q in float32 (float64 for float64 inputs), as FlashAttention",
           ("attention", "online-softmax")),
    Kernel("blockwise_attention.ill_conditioned",
           "the blockwise attention on q, k with channel 0 scaled 100× (scores to ~±1e4)",
           blockwise_attention, attention_reference, ill_conditioned_qkv,
           "inputs drawn from torch.Generator().manual_seed(2**33 + seed)",
           ("attention", "online-softmax", "ill-conditioned")),
    Kernel("sequential_linear",
           "y = x Wᵀ + b; ∂W = Σ_i ∂y_i x_iᵀ, ∂b = Σ_i ∂y_i summed row by row in the dtype",
           sequential_linear, sequential_linear_reference, linear_inputs,
           "x 4096 × 64: a sequential sum's error grows like u·√n", ("sequential-sum",)),
    Kernel("linear_attention",
           "S_t = S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t; backward: ∂q_t = S_t ∂o_t, "
           "dS_t = dS_{t+1} + q_t ∂o_tᵀ, ∂k_t = dS_t v_t, ∂v_t = dS_tᵀ k_t",
           linear_attention, linear_attention_reference, linear_attention_inputs,
           "the state accumulates in the dtype", ("recurrent", "scan")),
    Kernel("clamp", "y = clamp(x, −1, 1), ∂x = ∂y ⊙ 1[−1 < x < 1]",
           clamp, clamp_reference, lambda seed: {"x": CLAMP_SHAPE},
           "the kernel's mask is strict at the kinks, torch.clamp's (the reference's) "
           "inclusive: they differ where x rounds to exactly ±1", ("piecewise-linear",)),
    Kernel("sparsemax", "p = max(z − τ(z), 0), ∂z = s ⊙ (g − mean_s(g)), s = 1[p > 0]",
           sparsemax, sparsemax_reference, lambda seed: {"z": SPARSEMAX_SHAPE},
           "", ("piecewise-linear",)),
)

#: The compiled LayerNorm's name in the corpus (dtypes decided by ``compile_failure``).
COMPILED_LAYER_NORM = "compiled_layernorm"

MISTAKES: tuple[Planted, ...] = (
    Planted("blockwise_attention", "no_scale_dq", "∂q without the softmax scale 1/√D",
            lambda q, k, v: BlockwiseAttention.apply(q, k, v, "no_scale_dq"), ("q",)),
    Planted("blockwise_attention", "no_D", "∂S_j = P_j ⊙ ∂P_j: D = rowsum(∂O ⊙ O) omitted",
            lambda q, k, v: BlockwiseAttention.apply(q, k, v, "no_D"), ("q", "k")),
    Planted("blockwise_attention", "last_block_skipped",
            "the backward leaves out the last key block",
            lambda q, k, v: BlockwiseAttention.apply(q, k, v, "last_block_skipped"),
            ("q", "k", "v")),
    Planted("sequential_linear", "transposed_dw", "∂W = Σ_i x_i ∂y_iᵀ, transposed",
            lambda x, w, b: SequentialLinear.apply(x, w, b, "transposed_dw"), ("weight",)),
    Planted("sequential_linear", "last_row_skipped", "the running sums stop one row early",
            lambda x, w, b: SequentialLinear.apply(x, w, b, "last_row_skipped"),
            ("weight", "bias")),
    Planted("sequential_linear", "bias_mean", "∂b = mean_i ∂y_i instead of the sum",
            lambda x, w, b: SequentialLinear.apply(x, w, b, "bias_mean"), ("bias",)),
    Planted("linear_attention", "strict_mask",
            "∂k_t, ∂v_t from dS_{t+1}: the causal mask off by one (s > t)",
            lambda q, k, v: LinearAttention.apply(q, k, v, "strict_mask"), ("k", "v")),
    Planted("linear_attention", "transposed_dq", "∂q_t = S_tᵀ ∂o_t, transposed",
            lambda q, k, v: LinearAttention.apply(q, k, v, "transposed_dq"), ("q",)),
    Planted("clamp", "mask_shifted", "the kink mask read one entry to the right",
            lambda x: Clamp.apply(x, "mask_shifted"), ("x",)),
    Planted("sparsemax", "no_mean", "∂z = s ⊙ g: the support mean dropped",
            lambda z: Sparsemax.apply(z, "no_mean"), ("z",)),
    Planted("sparsemax", "mean_over_all", "the mean over the whole row, not the support",
            lambda z: Sparsemax.apply(z, "mean_over_all"), ("z",)),
)


def _kernel(name: str) -> Kernel:
    return next(k for k in KERNELS if k.name == name)


def compiled_dtypes() -> tuple[str, ...]:
    """The dtypes inductor compiles the LayerNorm in here (compiles on first call)."""
    return tuple(d for d in DTYPE_NAMES if compile_failure(d) is None)


def kernel_entries(seed: int) -> list[Entry]:
    """Every correct kernel as an Entry for ``seed``; the compiled LayerNorm in the
    dtypes inductor compiles it in (the others are in ``kernel_skipped``)."""
    entries = [k.entry(seed) for k in KERNELS]
    dtypes = compiled_dtypes()
    if dtypes:
        entries.append(Entry(
            name=f"kernel.{COMPILED_LAYER_NORM}", family=FAMILY,
            candidate=compiled_layer_norm, reference=layer_norm,
            inputs=layer_norm_inputs(seed), dtypes=dtypes, reference_kind="eager",
            note="torch.compile (inductor) of LayerNorm in plain ops against it eager",
            tags=("compile",)))
    return entries


def kernel_skipped() -> list[Skipped]:
    """The compiled LayerNorm in each dtype inductor cannot compile it in here."""
    reasons = [r for r in (compile_failure(d) for d in DTYPE_NAMES) if r is not None]
    if not reasons:
        return []
    return [Skipped(f"kernel.{COMPILED_LAYER_NORM}", FAMILY, "; ".join(reasons))]


def kernel_mistakes(seed: int) -> list[Entry]:
    """The planted mistakes as Entries, "mistake.<kernel>.<what>", tagged "mistake" and
    "touches:<input>" for each gradient the mistake alters."""
    entries = []
    for m in MISTAKES:
        right = _kernel(m.kernel)
        entries.append(Entry(
            name=m.name, family=FAMILY, candidate=m.fn, reference=right.reference,
            inputs=right.inputs(seed), dtypes=DTYPE_NAMES, reference_kind="formula",
            note=m.description,
            tags=(MISTAKE_TAG, *(f"touches:{n}" for n in m.touches))))
    return entries
