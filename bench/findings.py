"""The corpus rows that still fail, judged against exact arithmetic.

    python -m bench.findings [--seed 0,1,2] [--only NAME]

For every (corpus entry, dtype) that ``python -m gradlab ops`` reports as ``fail``
(the list ``TARGETS``, seeds 0–2), this recomputes the gradient exactly, on the same
rounded inputs and upstream gradient as ``gradlab.verify``, and says whether the
op's kernel is really inaccurate (a *finding*) or the verdict is wrong (an *open
false alarm*: the kernel is within what verify allows correct code once measured
against exact values, and it is the float64 truth that is off).

Exact values: mpmath at 60 significant digits for the transcendental ops (exp,
log, erfc), Python's ``fractions.Fraction`` (exact rationals of the rounded inputs)
for the piecewise-linear ones, and exact integer arithmetic on the inputs' binary
values for attention's matrix products (its exponentials in mpmath, rounded to
2⁻²⁰⁰). Errors are in u of the row's dtype, relative to max|exact| (verify's
max-norm); the truth's also in u of float64.

A row is a *finding* when the kernel's gradient has non-finite entries where the
exact one is finite, when it is not the derivative of the kernel's own forward
(the directional derivative, computed exactly, disagrees), or when its error
against exact exceeds verify's max-norm threshold for that row (what verify allows
correct code); it is an *open false alarm* when the kernel is within that
threshold against exact (so the failure came from the truth), or when its only
errors are at entries whose coordinate its own rounding moves into the next cell.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import torch

import gradlab
from gradlab.core.dtypes import dtype_info
from gradlab.corpus.build import corpus_entries

DIGITS = 60
mpmath.mp.dps = DIGITS
F64 = torch.float64
U64 = 2.0 ** -53
#: Attention's exact probabilities are fixed-point integers of 2⁻PROB_BITS.
PROB_BITS = 200


# ---------------------------------------------------------------------------------------
# One failing row, reproduced: the rounded inputs, the upstream gradient, the kernel's
# and the truth's gradients, and the arguments the op was called with
# ---------------------------------------------------------------------------------------


@dataclass
class Case:
    """One (entry, dtype, seed): what verify computed, reproduced outside it."""

    entry: object
    dtype: str
    seed: int
    args: list                         # the entry's inputs rounded to dtype
    names: list                        # the differentiated inputs' names
    upstream: torch.Tensor             # verify's upstream gradient, in dtype
    kernel: dict                       # name → the candidate's gradient (dtype)
    truth: dict                        # name → the reference's float64 gradient
    called: tuple = ()                 # (args, kwargs) the op itself received in dtype
    row: dict = field(default_factory=dict)   # verify's row per input
    worst: dict = field(default_factory=dict)  # verify's worst entry per input

    @property
    def u(self) -> float:
        return dtype_info(self.dtype).u


def reproduce(entry, dtype: str, seed: int) -> Case:
    """verify's gradients of ``entry`` in ``dtype`` on ``seed``, recomputed: the
    inputs are the entry's float64 tensors, or for a shape N(0, 1) draws from
    torch.Generator().manual_seed(seed) in order, rounded to the dtype; the upstream
    is N(0, 1) from the same generator next, in float64 rounded to the dtype (1 for
    a scalar output)."""
    torch_dtype = dtype_info(dtype).torch_dtype
    gen = torch.Generator().manual_seed(seed)
    given = {n: v if isinstance(v, torch.Tensor) else torch.randn(v, generator=gen, dtype=F64)
             for n, v in entry.inputs.items()}   # a shape is drawn first, as verify does
    names = [n for n, v in given.items() if v.is_floating_point()]
    args = [v.to(torch_dtype) if v.is_floating_point() else v.clone() for v in given.values()]
    called = []
    candidate = entry.candidate
    if hasattr(candidate, "with_fn"):           # an op_db Call: record what the op receives
        fn = candidate.fn

        def recording(*a, **kw):
            called.append((a, kw))
            return fn(*a, **kw)

        candidate = candidate.with_fn(recording, candidate.label)
    kernel, out = _grads(candidate, args, names, None)
    shape = tuple(out.shape)
    wide = torch.ones((), dtype=F64) if shape == () else torch.randn(shape, generator=gen,
                                                                      dtype=F64)
    upstream = wide.to(torch_dtype)
    kernel, _ = _grads(candidate, args, names, upstream)
    truth, _ = _grads(entry.reference, [a.to(F64) if a.is_floating_point() else a
                                        for a in args], names, upstream.to(F64))
    return Case(entry, dtype, seed, args, names, upstream, kernel, truth,
                called[-1] if called else ((), {}))


def _grads(fn, args, names, upstream):
    leaves = [a.detach().clone().requires_grad_(a.is_floating_point()) for a in args]
    out = fn(*leaves)
    if isinstance(out, tuple):
        out = out[0]
    if upstream is None:
        return {}, out.detach()
    diff = [leaf for leaf in leaves if leaf.requires_grad]
    grads = torch.autograd.grad(out, diff, upstream, allow_unused=True)
    return dict(zip(names, (g.detach() for g in grads))), out.detach()


def verify_rows(case: Case) -> None:
    """verify's own rows (status, errors, thresholds, worst entry) for the case."""
    e = case.entry
    report = gradlab.verify(e.candidate, e.reference, e.inputs, dtypes=(case.dtype,),
                            seed=case.seed)
    case.row = {r["input"]: r for r in report.rows}
    for name in case.row:
        worst = report.worst(dtype=case.dtype, input=name, k=1)
        case.worst[name] = worst.iloc[0].to_dict() if len(worst) else {}


# ---------------------------------------------------------------------------------------
# Exact gradients, one function per formula (inputs: the rounded values, exactly)
# ---------------------------------------------------------------------------------------


def mp(t: torch.Tensor) -> list:
    """A tensor's values as mpmath numbers (exact: each is a binary float)."""
    return [mpmath.mpf(v) for v in t.detach().to(F64).reshape(-1).tolist()]


def exact_hardsigmoid(x, w) -> list:
    """∂/∂x clamp(x/6 + 1/2, 0, 1) · w = w/6 on −3 < x < 3, else 0 (Fractions)."""
    return [Fraction(wi) / 6 if -3 < xi < 3 else Fraction(0)
            for xi, wi in zip(x.to(F64).reshape(-1).tolist(), w.to(F64).reshape(-1).tolist())]


def exact_soft_margin_loss(x, y, w, reduction: str) -> list:
    """ℓ = log(1 + exp(−y x)): ∂ℓ/∂x = −y·exp(−y x)/(1 + exp(−y x)), divided by N for
    the mean, times the upstream (mpmath)."""
    n = x.numel() if reduction == "mean" else 1
    ws = [mpmath.mpf(float(w))] * x.numel() if w.dim() == 0 else mp(w)
    out = []
    for xi, yi, wi in zip(mp(x), mp(y.expand_as(x)), ws):
        e = mpmath.exp(-yi * xi)
        out.append(-yi * e / (1 + e) / n * wi)
    return out


def exact_vector_norm(x, p: int, w) -> list:
    """‖x‖_p = (Σ|x|^p)^(1/p): ∂/∂x = x|x|^(p−2)/‖x‖_p^(p−1) · w (mpmath)."""
    xs = mp(x)
    norm = mpmath.root(sum(abs(v) ** p for v in xs), p)
    wv = mpmath.mpf(float(w))
    return [v * abs(v) ** (p - 2) / norm ** (p - 1) * wv for v in xs]


def exact_log_ndtr(x, w) -> list:
    """log Φ(x): ∂/∂x = φ(x)/Φ(x), Φ(x) = erfc(−x/√2)/2 (mpmath)."""
    out = []
    for v, wi in zip(mp(x), mp(w.expand_as(x))):
        phi = mpmath.exp(-v * v / 2) / mpmath.sqrt(2 * mpmath.pi)
        out.append(phi / (mpmath.erfc(-v / mpmath.sqrt(2)) / 2) * wi)
    return out


def softmax_columns(x, dim: int):
    """x as a list of the 1-D slices softmax normalises (dim moved last), and the
    permutation back."""
    moved = x.to(F64).movedim(dim, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def exact_softmax(x, w, dim: int) -> list:
    """y = exp(x − max)/Σ exp(x − max) along dim: ∂x = y ⊙ (w − ⟨y, w⟩) (mpmath)."""
    xs, shape = softmax_columns(x, dim)
    ws, _ = softmax_columns(w, dim)
    rows = []
    for xr, wr in zip(xs.tolist(), ws.tolist()):
        xr, wr = [mpmath.mpf(v) for v in xr], [mpmath.mpf(v) for v in wr]
        top = max(xr)
        es = [mpmath.exp(v - top) for v in xr]
        total = sum(es)
        y = [e / total for e in es]
        dot = sum(a * b for a, b in zip(y, wr))
        rows.append([a * (b - dot) for a, b in zip(y, wr)])
    return _unmove(rows, shape, dim)


def exact_softmax_output(x, dim: int) -> list:
    """softmax(x) along dim itself (mpmath), flattened in x's order."""
    xs, shape = softmax_columns(x, dim)
    rows = []
    for xr in xs.tolist():
        xr = [mpmath.mpf(v) for v in xr]
        top = max(xr)
        es = [mpmath.exp(v - top) for v in xr]
        total = sum(es)
        rows.append([e / total for e in es])
    return _unmove(rows, shape, dim)


def _unmove(rows, shape, dim) -> list:
    """Rows of a dim-moved-last tensor back in the original flattened order."""
    flat = [v for r in rows for v in r]
    index = torch.arange(len(flat)).reshape(shape).movedim(-1, dim).reshape(-1)
    return [flat[i] for i in index.tolist()]


def exact_sigmoid(x, w) -> list:
    """σ(x) = 1/(1 + exp(−x)): ∂x = σ(x)(1 − σ(x)) w = w·exp(−x)/(1 + exp(−x))² (mpmath)."""
    out = []
    for v, wi in zip(mp(x), mp(w)):
        e = mpmath.exp(-v)
        out.append(wi * e / (1 + e) ** 2)
    return out


def unnormalize(g, size: int, align: bool):
    """The pixel coordinate of a grid value: (g + 1)/2·(size − 1) with align_corners,
    ((g + 1)·size − 1)/2 without; and d(coordinate)/dg."""
    if align:
        return (g + 1) / 2 * (size - 1), Fraction(size - 1, 2)
    return ((g + 1) * size - 1) / 2, Fraction(size, 2)


def bilinear_grid_slopes(inp, grid, w, shift: Callable | None = None, align: bool = True):
    """∂L/∂grid of bilinear grid_sampler_2d (zeros padding), exactly (Fractions):
    ix = (gx + 1)/2·(W − 1) (align_corners; else ((gx + 1)·W − 1)/2), corners
    x0 = ⌊ix⌋, x0 + 1, weights
    from tx = ix − x0, ty = iy − y0, corners outside the input count 0. Within a
    cell ∂out/∂ix = (1 − ty)(v[y0, x0+1] − v[y0, x0]) + ty(v[y0+1, x0+1] − v[y0+1, x0]),
    times (W − 1)/2 for ∂gx (∂gy likewise). ``shift(n, h, w, axis, exact_cell)``
    picks another cell for the coordinate's own axis (the one-sided slope there)."""
    n_, c_, hh, ww = inp.shape
    vals = [[[[Fraction(v) for v in row] for row in ch] for ch in img]
            for img in inp.to(F64).tolist()]
    g = grid.to(F64).tolist()
    up = w.to(F64).tolist()
    out = []
    for n in range(n_):
        for i in range(grid.shape[1]):
            for j in range(grid.shape[2]):
                gx, gy = Fraction(g[n][i][j][0]), Fraction(g[n][i][j][1])
                (ix, sx), (iy, sy) = unnormalize(gx, ww, align), unnormalize(gy, hh, align)
                x0, y0 = math.floor(ix), math.floor(iy)
                cx = shift(n, i, j, 0, x0) if shift else x0
                cy = shift(n, i, j, 1, y0) if shift else y0
                tx, ty = ix - x0, iy - y0

                def v(c, yy, xx, img=vals[n]):
                    return img[c][yy][xx] if 0 <= yy < hh and 0 <= xx < ww else 0

                dx = dy = Fraction(0)
                for c in range(c_):
                    wc = Fraction(up[n][c][i][j])
                    dx += wc * ((1 - ty) * (v(c, y0, cx + 1) - v(c, y0, cx))
                                + ty * (v(c, y0 + 1, cx + 1) - v(c, y0 + 1, cx)))
                    dy += wc * ((1 - tx) * (v(c, cy + 1, x0) - v(c, cy, x0))
                                + tx * (v(c, cy + 1, x0 + 1) - v(c, cy, x0 + 1)))
                out += [dx * sx, dy * sy]
    return out


def exact_grid_sampler_grid(inp, grid, w, align: bool = True) -> list:
    """The exact ∂L/∂grid, each coordinate in its own (exact) cell."""
    return bilinear_grid_slopes(inp, grid, w, align=align)


def grid_cells_in_dtype(grid, size_w: int, size_h: int, align: bool = True):
    """The cell ⌊ix⌋, ⌊iy⌋ of each grid point when ix (``unnormalize``) is computed
    with every step rounded to the grid's dtype (the kernel's arithmetic in
    bfloat16/float16; in float32 and float64 it rounds far less)."""
    if align:
        ix = ((grid[..., 0] + 1) / 2) * (size_w - 1)
        iy = ((grid[..., 1] + 1) / 2) * (size_h - 1)
    else:
        ix = ((grid[..., 0] + 1) * size_w - 1) / 2
        iy = ((grid[..., 1] + 1) * size_h - 1) / 2
    return ix.to(F64).floor().long(), iy.to(F64).floor().long()


def exact_unpool_directional(case: Case, v: torch.Tensor):
    """For max_unpool (a scatter: out[idx[k]] = x[k], one of several x[k] kept where
    indices repeat) the forward is linear, L(x) = Σ_p w_p·x[src(p)], so
    (L(x + h v) − L(x))/h = Σ_p w_p·v[src(p)] for every h, exactly (Fractions); src
    is read off the op's own forward on the markers 1, 2, …, n and checked against
    its output on x. Returns (that derivative, the exact per-entry gradient
    ∂L/∂x_k = Σ_{p: src(p)=k} w_p, the kernel's and the truth's ⟨G, v⟩)."""
    (x,) = [a for a in case.args if a.is_floating_point()]
    others = [a for a in case.args if not a.is_floating_point()]
    op = case.entry.candidate
    n = x.numel()
    markers = torch.arange(1, n + 1, dtype=F64).reshape(x.shape)
    src = op(markers, *others).reshape(-1).round().long() - 1     # −1: no source (zero)
    out = op(x, *others).reshape(-1)
    xf = x.reshape(-1)
    copied = torch.where(src >= 0, xf[src.clamp(min=0)], torch.zeros_like(out))
    if not torch.equal(copied, out):
        raise RuntimeError("max_unpool's forward is not the selection read off the markers")
    w = case.upstream.to(F64).reshape(-1).tolist()
    vf = [Fraction(t) for t in v.reshape(-1).tolist()]
    srcs = src.tolist()
    derivative = sum((Fraction(w[p]) * vf[s] for p, s in enumerate(srcs) if s >= 0),
                     Fraction(0))
    exact = [Fraction(0)] * n
    for p, s in enumerate(srcs):
        if s >= 0:
            exact[s] += Fraction(w[p])
    name = case.names[0]

    def dot(g):
        return sum((Fraction(a) * b for a, b in zip(g.to(F64).reshape(-1).tolist(), vf)),
                   Fraction(0))

    return derivative, exact, dot(case.kernel[name]), dot(case.truth[name])


def attention_exact(q, k, v, d_out):
    """∂q, ∂k, ∂v of O = softmax(S) v, S = (q·s) kᵀ, s = the float64 32^(−1/2) both
    kernel and reference multiply by, as Fractions. Every product and sum is exact
    integer arithmetic on the inputs' binary values; P = exp(S − logsumexp S) comes
    from mpmath (60 digits) as integers of 2⁻PROB_BITS, so every value is exact to
    far below 2⁻¹⁵⁰ relative. ∂P = ∂O vᵀ, D = rowsum(∂O ⊙ O), ∂S = P ⊙ (∂P − D),
    ∂v = Pᵀ ∂O, ∂q = ∂S k·s, ∂k = ∂Sᵀ q·s."""
    import numpy as np

    scale = Fraction(q.shape[-1] ** -0.5)

    def ints(t):
        """t = m·2^(−e) with integer m (numpy object array) and one e per tensor."""
        vals = t.to(F64).reshape(-1).tolist()
        e = max(Fraction(x).denominator.bit_length() - 1 for x in vals)
        arr = np.array([int(Fraction(x) * 2 ** e) for x in vals], dtype=object)
        return arr.reshape(tuple(t.shape)), e

    (qi, eq), (ki, ek), (vi, ev), (gi, eg) = (ints(t) for t in (q, k, v, d_out))
    batch = q.shape[:-2]
    dq = np.empty(q.shape, dtype=object)
    dk = np.empty(k.shape, dtype=object)
    dv = np.empty(v.shape, dtype=object)
    probs = np.empty((*batch, q.shape[-2], k.shape[-2]), dtype=object)
    one = 2 ** PROB_BITS
    for b in np.ndindex(*batch):
        s_int = qi[b] @ ki[b].T                        # S = scale·s_int·2^(−eq−ek)
        s_den = 2 ** (eq + ek)
        rows = []
        for r in s_int.tolist():
            sr = [mpmath.mpf(int(x) * scale.numerator) / (scale.denominator * s_den)
                  for x in r]
            top = max(sr)
            lse = top + mpmath.log(mpmath.fsum(mpmath.exp(x - top) for x in sr))
            rows.append([int(mpmath.nint(mpmath.exp(x - lse) * one)) for x in sr])
        p = np.array(rows, dtype=object)               # P = p·2^(−PROB_BITS)
        probs[b] = p
        dv[b] = [[Fraction(int(x), one * 2 ** eg) for x in r] for r in (p.T @ gi[b]).tolist()]
        o = p @ vi[b]                                  # O·2^(PROB_BITS + ev)
        dd = (gi[b] * o).sum(-1)                       # D·2^(eg + PROB_BITS + ev)
        dp = gi[b] @ vi[b].T                           # ∂P·2^(eg + ev)
        ds = p * (dp * one - dd[:, None])              # ∂S·2^(2·PROB_BITS + eg + ev)
        den = one * one * 2 ** (eg + ev)
        dq[b] = [[Fraction(int(x), den * 2 ** ek) * scale for x in r]
                 for r in (ds @ ki[b]).tolist()]
        dk[b] = [[Fraction(int(x), den * 2 ** eq) * scale for x in r]
                 for r in (ds.T @ qi[b]).tolist()]
    return {"q": dq, "k": dk, "v": dv, "P": probs}


# ---------------------------------------------------------------------------------------
# Errors against exact
# ---------------------------------------------------------------------------------------


@dataclass
class Against:
    """A gradient against the exact one: max|G − E|/max|E| in u of ``u``, where."""

    err_u: float
    index: int
    nonfinite: int
    fro_u: float = math.nan        # ‖G − E‖/‖E‖ in u (verify's normwise)


def against(grad: torch.Tensor, exact: list, u: float) -> Against:
    g = grad.detach().to(F64).reshape(-1).tolist()
    ex = [mpmath.mpf(e) if isinstance(e, (int, float)) else
          (mpmath.mpf(e.numerator) / e.denominator if isinstance(e, Fraction) else e)
          for e in exact]
    peak = max(abs(e) for e in ex)
    worst, where, bad = mpmath.mpf(-1), 0, 0
    sq = mpmath.fsum((mpmath.mpf(a) - e) ** 2 for a, e in zip(g, ex) if math.isfinite(a))
    fro = float(mpmath.sqrt(sq / mpmath.fsum(e * e for e in ex)) / u)
    for i, (a, e) in enumerate(zip(g, ex)):
        if not math.isfinite(a):
            bad += 1
            if worst != mpmath.inf:
                worst, where = mpmath.inf, i
            continue
        d = abs(mpmath.mpf(a) - e)
        if d > worst:
            worst, where = d, i
    err = math.inf if worst == mpmath.inf else float(worst / peak / u)
    return Against(err, where, bad, math.inf if bad else fro)


def as_float(e) -> float:
    return float(e.numerator / mpmath.mpf(e.denominator)) if isinstance(e, Fraction) \
        else float(e)


# ---------------------------------------------------------------------------------------
# The checks: one per failing entry, each returning its lines and classification
# ---------------------------------------------------------------------------------------


@dataclass
class Verdict:
    entry: str
    dtype: str
    seed: int
    input: str
    status: str                  # verify's status now
    measured: str                # verify's max-norm error (u) or what it reports
    kernel_u: float              # kernel vs exact (u of the dtype)
    truth_u: float               # truth vs exact (u of the dtype)
    classification: str
    lines: list = field(default_factory=list)


def unravel(i: int, shape) -> tuple:
    return tuple(int(j) for j in torch.unravel_index(torch.tensor(i), tuple(shape)))


def elementwise(case: Case, name: str, exact: list, extra: Callable | None = None
                ) -> Verdict:
    """The common report: kernel and truth against exact, the worst entry."""
    row = case.row.get(name, {})
    kern = against(case.kernel[name], exact, case.u)
    tru = against(case.truth[name], exact, case.u)
    i = kern.index
    shape = case.kernel[name].shape
    g = float(case.kernel[name].reshape(-1)[i])
    t = float(case.truth[name].reshape(-1)[i])
    e = as_float(exact[i])
    threshold = row.get("threshold_max_u", math.nan)
    threshold_fro = row.get("threshold_fro_u", math.nan)
    if row.get("status") == "pass":
        cls = "passes now"
    elif kern.err_u > threshold or kern.fro_u > threshold_fro:   # non-finite: infinite
        cls = "finding"
    else:
        cls = "open false alarm"
    measured = (f"{row.get('err_max_u', math.nan):.4g} u max-norm, "
                f"{row.get('err_fro_u', math.nan):.4g} u normwise (thresholds "
                f"{threshold:.4g} u, {threshold_fro:.4g} u)" if not kern.nonfinite else
                f"{row.get('nonfinite', -1)} non-finite entries")
    v = Verdict(case.entry.name, case.dtype, case.seed, name, row.get("status", "?"),
                measured, kern.err_u, tru.err_u, cls)
    v.lines += [
        f"worst entry {list(unravel(i, shape))}: kernel {g:.9g}, truth {t:.9g}, "
        f"exact {e:.12g}",
        f"kernel vs exact {fmt(kern.err_u)} u max-norm, {fmt(kern.fro_u)} u normwise"
        + (f" ({kern.nonfinite} non-finite entries)" if kern.nonfinite else "")
        + f"; truth vs exact {fmt(tru.err_u)} u (= {fmt(tru.err_u * case.u / U64)} u of "
        f"float64), {fmt(tru.fro_u)} u normwise"]
    if extra:
        v.lines += extra(case, name, exact, i)
    return v


def fmt(x: float) -> str:
    return "inf" if x == math.inf else f"{x:.3g}"


def check_hardsigmoid(case: Case) -> list[Verdict]:
    x = case.args[0]

    def why(case, name, exact, i):
        k = case.kernel[name].to(F64).reshape(-1)
        w = case.upstream.to(F64).reshape(-1)
        inside = (x.reshape(-1).abs() < 3) & (w != 0)
        ratio = (k[inside] / w[inside]).unique()
        return [f"kernel ∂x/∂y inside (−3, 3): {', '.join(f'{r:.17g}' for r in ratio.tolist())}"
                f" (1/6 = {1 / 6:.17g}; float32(1/6) = {float(torch.tensor(1 / 6).float()):.17g})"]

    return [elementwise(case, "input", exact_hardsigmoid(x, case.upstream), why)]


def check_soft_margin_loss(case: Case) -> list[Verdict]:
    args, kwargs = case.called
    x, y = args[0].detach(), args[1].detach()
    reduction = kwargs.get("reduction", args[4] if len(args) > 4 else "mean")

    def why(case, name, exact, i):
        k = case.kernel[name].reshape(-1)
        z = (-y.expand_as(x) * x).reshape(-1).to(F64)
        bad = ~torch.isfinite(k)
        limit = math.log(torch.finfo(x.dtype).max)
        return [f"reduction {reduction!r}; non-finite kernel entries at −y·x from "
                f"{z[bad].min():.4g} to {z[bad].max():.4g}; exp(−y·x) overflows {x.dtype} "
                f"past −y·x = {limit:.4g} ({int((z > limit).sum())} entries); the exact "
                f"gradient there is ≈ −y/N·w, finite"]

    return [elementwise(case, "input", exact_soft_margin_loss(x, y, case.upstream, reduction),
                        why)]


def check_vector_norm(case: Case) -> list[Verdict]:
    args, kwargs = case.called
    x = args[0].detach()
    p = kwargs["ord"]

    def why(case, name, exact, i):
        xs = x.to(F64)
        norm = float((xs.abs() ** p).sum() ** (1 / p))
        big = torch.finfo(x.dtype).max
        return [f"ord {p}: max|x| = {xs.abs().max():.4g}, max|x|^{p} = "
                f"{float(xs.abs().max() ** p):.4g}, Σ|x|^{p} = {float((xs.abs() ** p).sum()):.4g}, "
                f"‖x‖^{p - 1} = {norm ** (p - 1):.4g} (largest {x.dtype}: {big:.6g})"]

    return [elementwise(case, "input", exact_vector_norm(x, p, case.upstream), why)]


def check_log_ndtr(case: Case) -> list[Verdict]:
    x = case.args[0]

    def why(case, name, exact, i):
        # torch's derivative of log_ndtr (derivatives.yaml): grad/√(2π)·exp(−(result + x²/2)),
        # result = log Φ(x): the exponent adds two terms of opposite sign
        xv = mpmath.mpf(float(x))
        half = xv * xv / 2
        log_phi = mpmath.log(mpmath.erfc(-xv / mpmath.sqrt(2)) / 2)
        total = log_phi + half
        return [f"x = {float(x)!r}; the kernel's formula exp(−(log Φ(x) + x²/2))/√(2π): "
                f"log Φ(x) = {float(log_phi):.6g}, x²/2 = {float(half):.6g}, sum "
                f"{float(total):.6g}; an error of u·|log Φ| in the exponent is "
                f"{float(abs(log_phi)):.3g} u relative in the result"]

    return [elementwise(case, "input", exact_log_ndtr(x, case.upstream), why)]


def check_softmax(case: Case) -> list[Verdict]:
    args, kwargs = case.called
    x = args[0].detach()
    dim = args[1] if len(args) > 1 else kwargs["dim"]

    def why(case, name, exact, i):
        y = torch.softmax(x, dim).to(F64)       # the kernel's own forward output
        ys = exact_softmax_output(x, dim)
        fwd = against(y, ys, case.u)
        sums = y.sum(dim) - 1
        # the backward's formula y ⊙ (w − ⟨y, w⟩) on the kernel's own y, exactly
        w = case.upstream.to(F64)
        yw = [Fraction(a) for a in y.movedim(dim, -1).reshape(-1).tolist()]
        ww = [Fraction(a) for a in w.movedim(dim, -1).reshape(-1).tolist()]
        m = y.shape[dim]
        rows = []
        for r in range(len(yw) // m):
            yr, wr = yw[r * m:(r + 1) * m], ww[r * m:(r + 1) * m]
            dot = sum((a * b for a, b in zip(yr, wr)), Fraction(0))
            rows.append([a * (b - dot) for a, b in zip(yr, wr)])
        moved = y.movedim(dim, -1).shape
        own = torch.tensor([as_float(v) for v in _unmove(rows, moved, dim)],
                           dtype=F64).reshape(x.shape)
        prop = against(own, exact, case.u)
        col = unravel(i, x.shape)
        j = [c for d, c in enumerate(col) if d != dim]
        ycol = y.movedim(dim, -1).reshape(-1, m)[j[0] if j else 0]
        return [f"the kernel's forward y vs exact: {fmt(fwd.err_u)} u; Σy − 1 per slice: "
                f"{', '.join(f'{s / case.u:.3g}' for s in sums.reshape(-1).tolist())} u",
                f"y ⊙ (w − ⟨y, w⟩) evaluated exactly on the kernel's own y: "
                f"{fmt(prop.err_u)} u from exact",
                f"the worst entry's slice: y = [{', '.join(f'{a:.3g}' for a in ycol.tolist())}]"]

    return [elementwise(case, "input", exact_softmax(x, case.upstream, dim), why)]


def check_sigmoid(case: Case) -> list[Verdict]:
    x = case.args[0]

    def why(case, name, exact, i):
        xi = float(x.reshape(-1)[i])
        y = torch.sigmoid(x).to(F64).reshape(-1)
        ys = 1 / (1 + mpmath.exp(-mpmath.mpf(xi)))
        yi = float(y[i])
        wi = float(case.upstream.to(F64).reshape(-1)[i])
        # the backward's formula w·y(1 − y) on the kernel's y, exactly
        own = Fraction(wi) * Fraction(yi) * (1 - Fraction(yi))
        ex = exact[i]
        peak = max(abs(e) for e in exact)
        own_u = abs(mpmath.mpf(own.numerator) / own.denominator - ex) / peak / case.u
        # σ(x) rounded once to the dtype (through float64: a double rounding only at a
        # tie, which the printed value would show)
        rounded = Fraction(float(torch.tensor(float(ys), dtype=F64).to(x.dtype)))
        best = Fraction(wi) * rounded * (1 - rounded)
        best_u = abs(mpmath.mpf(best.numerator) / best.denominator - ex) / peak / case.u
        return [f"x = {xi:.9g}: the kernel's y = {yi!r}, exact σ(x) = {float(ys):.17g} "
                f"({float(abs(yi - ys) / case.u):.3g} u of 1 off; 1 − y: "
                f"{float((1 - yi) / (1 - ys)) - 1:+.3g} relative)",
                f"w·y(1 − y) exactly on the kernel's y: "
                f"{float(own_u):.3g} u from exact at this entry; on σ(x) correctly rounded "
                f"to {case.dtype} "
                f"({float(rounded)!r}): {float(best_u):.3g} u"]

    return [elementwise(case, "input", exact_sigmoid(x, case.upstream), why)]


def check_grid_sampler(case: Case) -> list[Verdict]:
    inp, grid = case.args[0], case.args[1]
    hh, ww = inp.shape[2], inp.shape[3]
    align = bool(case.entry.candidate.args[-1])   # grid_sampler_2d(…, align_corners)
    exact = exact_grid_sampler_grid(inp, grid, case.upstream, align)
    v = elementwise(case, "arg0", exact)
    # the cells the kernel's own dtype arithmetic puts each coordinate in
    cx, cy = grid_cells_in_dtype(grid, ww, hh, align)
    cells = (cx, cy)
    gx = unnormalize(grid.to(F64)[..., 0], ww, align)[0]
    gy = unnormalize(grid.to(F64)[..., 1], hh, align)[0]
    exact_cells = (gx.floor().long(), gy.floor().long())
    moved = [(cells[a] != exact_cells[a]) for a in (0, 1)]
    other = bilinear_grid_slopes(inp, grid, case.upstream,
                                 lambda n, i, j, a, c: int(cells[a][n, i, j]), align)
    k = case.kernel["arg0"].to(F64).reshape(-1).tolist()
    peak = max(abs(as_float(e)) for e in exact)
    flagged = torch.stack(moved, -1).reshape(-1).tolist()
    rest, at_moved = 0.0, 0.0
    for g, e, o, f in zip(k, exact, other, flagged):
        d = abs(g - as_float(e)) / peak / case.u
        if f:
            at_moved = max(at_moved, min(d, abs(g - as_float(o)) / peak / case.u))
        else:
            rest = max(rest, d)
    i = unravel(against(case.kernel["arg0"], exact, case.u).index, (*grid.shape,))
    n, a, b, axis = i
    coord = float((gx if axis == 0 else gy)[n, a, b])
    own = float(as_float(other[(((n * grid.shape[1]) + a) * grid.shape[2] + b) * 2 + axis]))
    v.lines += [
        f"worst entry: exact coordinate {'ix' if axis == 0 else 'iy'} = {coord:.9g} (cell "
        f"{int(math.floor(coord))}); computed in {case.dtype} it falls in cell "
        f"{int(cells[axis][n, a, b])}; the exact slope of that cell is {own:.9g}",
        f"{int(sum(flagged))} coordinates moved to another cell by {case.dtype} rounding; "
        f"against the slope of the cell the kernel computes in, those entries are within "
        f"{at_moved:.3g} u; every other entry within {rest:.3g} u of exact"]
    threshold = case.row["arg0"]["threshold_max_u"]
    if v.classification != "passes now":
        v.classification = ("open false alarm" if max(rest, at_moved) <= threshold
                            else "finding")
    return [v]


def exact_sparsemax_grad(z: torch.Tensor, w: torch.Tensor, support=None) -> list:
    """∂z of sparsemax over the last dimension, exactly (Fractions): on the support S
    (the exact one, {z_i > τ} with τ = (Σ_{i≤k} z_(i) − 1)/k for the largest k with
    1 + k·z_(k) > Σ_{i≤k} z_(i); or ``support`` where given), g_i − mean_S(g); 0 off it."""
    rows = z.to(F64).reshape(-1, z.shape[-1]).tolist()
    ws = w.to(F64).reshape(-1, z.shape[-1]).tolist()
    given = None if support is None else support.reshape(-1, z.shape[-1]).tolist()
    out = []
    for r, (zs, gs) in enumerate(zip(rows, ws)):
        zf = [Fraction(v) for v in zs]
        if given is None:
            ordered = sorted(zf, reverse=True)
            total, k, kept = Fraction(0), 0, Fraction(0)
            for j, v in enumerate(ordered, start=1):
                total += v
                if 1 + j * v > total:
                    k, kept = j, total
            tau = (kept - 1) / k
            inside = [v > tau for v in zf]
        else:
            inside = [bool(b) for b in given[r]]
        mean = sum(Fraction(g) for g, s in zip(gs, inside) if s) / max(1, sum(inside))
        out += [Fraction(g) - mean if s else Fraction(0) for g, s in zip(gs, inside)]
    return out


def check_sparsemax(case: Case) -> list[Verdict]:
    z = case.args[0]
    exact = exact_sparsemax_grad(z, case.upstream)
    with torch.no_grad():
        own = case.entry.candidate(z.detach().clone()) > 0       # the kernel's support
    exact_own = exact_sparsemax_grad(z, case.upstream, own)
    v = elementwise(case, "z", exact)
    moved = [a != b for a, b in zip(exact, exact_own)]
    k = case.kernel["z"].to(F64).reshape(-1).tolist()
    peak = max(abs(as_float(e)) for e in exact)
    on_own = max(abs(g - as_float(e)) for g, e in zip(k, exact_own)) / peak / case.u
    exact_support = sum(1 for e in exact if e != 0)
    v.lines += [f"the kernel's support, from p = max(z − τ, 0) with τ rounded in {case.dtype}, "
                f"differs from the exact one in the gradient of {sum(moved)} entries "
                f"(exact support: {exact_support} entries of {len(exact)}); against the exact "
                f"gradient on the kernel's own support the kernel is within {on_own:.3g} u"]
    threshold = case.row.get("z", {}).get("threshold_max_u", math.nan)
    if v.classification != "passes now":
        v.classification = "open false alarm" if on_own <= threshold else "finding"
    return [v]


def check_max_unpool(case: Case) -> list[Verdict]:
    gen = torch.Generator().manual_seed(1000 + case.seed)
    x = [a for a in case.args if a.is_floating_point()][0]
    direction = torch.randn(x.shape, generator=gen, dtype=F64)
    derivative, exact, kdot, tdot = exact_unpool_directional(case, direction)
    name = case.names[0]
    row = case.row.get(name, {})
    kern = against(case.kernel[name], exact, case.u)
    tru = against(case.truth[name], exact, case.u)
    i = kern.index
    rel = abs(kdot - derivative) / abs(derivative)
    trel = abs(tdot - derivative) / abs(derivative)
    losers = sum(1 for e, g in zip(exact, case.kernel[name].reshape(-1).tolist())
                 if e == 0 and g != 0)
    v = Verdict(case.entry.name, case.dtype, case.seed, name, row.get("status", "?"),
                f"Taylor remainder rate {row.get('taylor_rate', math.nan):.2f} (1: wrong)",
                kern.err_u, tru.err_u, "finding" if rel > 1e-12 else "open false alarm")
    v.lines += [
        f"worst entry {list(unravel(i, x.shape))}: kernel "
        f"{float(case.kernel[name].reshape(-1)[i]):.9g}, "
        f"truth {float(case.truth[name].reshape(-1)[i]):.9g}, exact {as_float(exact[i]):.9g}",
        f"kernel vs exact {fmt(kern.err_u)} u; truth vs exact {fmt(tru.err_u)} u",
        f"directional derivative (L(x + hv) − L(x))/h exactly: {float(derivative):.12g}; "
        f"kernel ⟨G, v⟩ = {float(kdot):.12g} ({float(rel):.3g} relative off); truth ⟨T, v⟩ = "
        f"{float(tdot):.12g} ({float(trel):.3g} off)",
        f"{losers} of {x.numel()} inputs are not kept by the forward (a repeated index: "
        f"another source wins) yet get a nonzero gradient"]
    return [v]


def check_attention(case: Case) -> list[Verdict]:
    q, k, vv = case.args
    exact = attention_exact(q, k, vv, case.upstream)
    # the plain composite in the same dtype
    comp, _ = _grads(case.entry.reference, case.args, case.names, case.upstream)
    p_lines = attention_probabilities(case, exact["P"])
    out = []
    for name in ("q", "k", "v"):
        ex = exact[name].reshape(-1).tolist()
        cmp = against(comp[name], ex, case.u)

        def why(case, n, e, i, cmp=cmp):
            return [f"the plain composite (softmax(q kᵀ·s) v by autograd) in {case.dtype} vs "
                    f"exact: {fmt(cmp.err_u)} u"]

        verdict = elementwise(case, name, ex, why)
        verdict.lines += p_lines
        out.append(verdict)
    return out


def attention_probabilities(case: Case, exact_p) -> list[str]:
    """The kernel's recomputed P = exp(S − L) (L = m + log ℓ, the logsumexp its forward
    saved, caught with a saved-tensors hook) and the composite's softmax, each against
    the exact P, relative, over the entries with P > 1/2 (where ∂v = Pᵀ∂O takes its
    size)."""
    import numpy as np

    q, k, v = case.args
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        case.entry.candidate(*(a.detach().clone().requires_grad_() for a in case.args))
    lse = saved[-1]
    from gradlab.corpus.kernels import key_blocks, scores

    scale = q.shape[-1] ** -0.5
    s = torch.cat([scores(q, k[..., j, :], scale) for j in key_blocks(k.shape[-2])], -1)
    p_kernel = torch.exp(s.to(lse.dtype) - lse).to(F64).reshape(-1).tolist()
    p_plain = torch.softmax((q * scale) @ k.transpose(-2, -1), -1).to(F64).reshape(-1).tolist()
    one = 2 ** PROB_BITS
    worst_k = worst_c = 0.0
    for pk, pc, pe in zip(p_kernel, p_plain, np.asarray(exact_p).reshape(-1).tolist()):
        if pe * 2 > one:
            e = Fraction(int(pe), one)
            worst_k = max(worst_k, float(abs(Fraction(pk) - e) / e))
            worst_c = max(worst_c, float(abs(Fraction(pc) - e) / e))
    return [f"P > 1/2 against exact, relative: the kernel's exp(S − L) {worst_k / case.u:.3g} u, "
            f"the composite's softmax {worst_c / case.u:.3g} u; saved |L| up to "
            f"{float(lse.abs().max()):.4g}"]


def attention_conditioning(case: Case) -> str:
    """max|L| over the rows (the logsumexp the kernel saves)."""
    q, k, _ = case.args
    s = (q.to(F64) * q.shape[-1] ** -0.5) @ k.to(F64).transpose(-2, -1)
    lse = torch.logsumexp(s, -1)
    return f"max|S| = {float(s.abs().max()):.4g}, max|L| = {float(lse.abs().max()):.4g}"


# ---------------------------------------------------------------------------------------
# The failing rows of seeds 0–4 (python -m gradlab ops --seed 0,1,2,3,4; 3 and 4 held out)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    entry: str
    op: str                       # the corpus name to build
    dtypes: tuple[str, ...]
    check: Callable
    seeds: tuple[int, ...] | None = None   # the seeds it fails on (None: every one)


TARGETS = (
    Target("nn.functional.hardsigmoid#0", "nn.functional.hardsigmoid", ("float64",),
           check_hardsigmoid),
    Target("nn.functional.max_unpool2d#247", "nn.functional.max_unpool2d", ("float64",),
           check_max_unpool),
    Target("nn.functional.max_unpool2d#248", "nn.functional.max_unpool2d", ("float64",),
           check_max_unpool),
    Target("nn.functional.max_unpool3d#81", "nn.functional.max_unpool3d", ("float64",),
           check_max_unpool),
    Target("nn.functional.max_unpool3d#93", "nn.functional.max_unpool3d", ("float64",),
           check_max_unpool),
    Target("nn.functional.soft_margin_loss#4", "nn.functional.soft_margin_loss",
           ("float16",), check_soft_margin_loss),
    Target("nn.functional.soft_margin_loss#5", "nn.functional.soft_margin_loss",
           ("float16",), check_soft_margin_loss),
    Target("linalg.vector_norm#72", "linalg.vector_norm", ("float16",), check_vector_norm),
    Target("special.log_ndtr#2", "special.log_ndtr", ("float64", "float32"), check_log_ndtr),
    Target("softmax#1", "softmax", ("float64", "float32", "bfloat16"), check_softmax,
           (0, 1, 4)),
    Target("sigmoid#0", "sigmoid", ("float32",), check_sigmoid, (1,)),
    Target("grid_sampler_2d#0", "grid_sampler_2d", ("bfloat16",), check_grid_sampler, (1, 4)),
    Target("grid_sampler_2d#1", "grid_sampler_2d", ("bfloat16",), check_grid_sampler, (1,)),
    Target("kernel.sparsemax", "kernel.sparsemax", ("bfloat16",), check_sparsemax, (1,)),
    Target("kernel.blockwise_attention.ill_conditioned",
           "kernel.blockwise_attention.ill_conditioned", ("float64", "float32"),
           check_attention),
)
#: Error rows: the reference raises in these dtypes, so verify judges nothing.
NOT_JUDGED = (("renorm#0", "renorm", ("bfloat16", "float16")),
              ("renorm#1", "renorm", ("bfloat16", "float16")))


def run(seeds: list[int], only: str | None) -> list[Verdict]:
    verdicts = []
    targets = [t for t in TARGETS if only is None or only in t.entry]
    for seed in seeds:
        wanted = [t for t in targets if t.seeds is None or seed in t.seeds]
        if not wanted:
            continue
        ops = sorted({t.op for t in wanted})
        entries = {e.name: e for e in corpus_entries(seed, ops)[0]}
        for t in wanted:
            for dtype in t.dtypes:
                start = time.perf_counter()
                case = reproduce(entries[t.entry], dtype, seed)
                verify_rows(case)
                for v in t.check(case):
                    v.lines.insert(0, f"verify: {v.status}, {v.measured}; verify's worst "
                                      f"entry {worst_text(case, v.input)}")
                    if t.check is check_attention:
                        v.lines.append(attention_conditioning(case))
                    v.lines.append(f"({time.perf_counter() - start:.1f} s)")
                    print_verdict(v)
                    verdicts.append(v)
    return verdicts


def worst_text(case: Case, name: str) -> str:
    w = case.worst.get(name) or {}
    if not w:
        return "—"
    return (f"{list(w['index'])}: candidate {w['candidate']:.9g}, truth {w['truth']:.9g} "
            f"({w['error_u']:.3g} u)")


def print_verdict(v: Verdict) -> None:
    print(f"\n{v.entry} · {v.dtype} · seed {v.seed} · ∂{v.input}: {v.classification.upper()}")
    for line in v.lines:
        print(f"    {line}", flush=True)


def not_judged(seeds: list[int]) -> None:
    print("\nNot judged (verify raised: the reference fails in these dtypes):")
    entries = {e.name: e for e in corpus_entries(seeds[0], ["renorm"])[0]}
    for name, _, dtypes in NOT_JUDGED:
        e = entries[name]
        for dtype in dtypes:
            try:
                gradlab.verify(e.candidate, e.reference, e.inputs, dtypes=(dtype,),
                               seed=seeds[0])
                print(f"  {name} {dtype}: verify ran (no longer an error row)")
            except Exception as exc:  # noqa: BLE001 - the point is the message
                print(f"  {name} {dtype}: {str(exc).splitlines()[0][:160]}")


def summary(verdicts: list[Verdict]) -> None:
    print("\nentry | dtype | seed | input | verify | kernel vs exact (u) | "
          "truth vs exact (u) | classification")
    for v in verdicts:
        print(f"{v.entry} | {v.dtype} | {v.seed} | {v.input} | {v.status} | "
              f"{fmt(v.kernel_u)} | {fmt(v.truth_u)} | {v.classification}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", default="0,1,2", help="comma list (default 0,1,2)")
    parser.add_argument("--only", default=None, help="entries whose name contains this")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seed.split(",")]
    print(f"torch {torch.__version__} · mpmath {mpmath.__version__} at {DIGITS} digits · "
          f"seeds {seeds}")
    verdicts = run(seeds, args.only)
    if args.only is None:
        not_judged(seeds)
    summary(verdicts)


if __name__ == "__main__":
    main()

