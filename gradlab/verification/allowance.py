r"""What real code may legitimately do that the rule's floor does not know.

The rule (``core.verdict``) judges a generic function with the floor c_N·u: it
knows no condition number, no kinks and no long sums. Real kernels meet all
three. Where a dtype has a row that fails the rule, verify measures them on the
float64 truth and judges that dtype's failing rows again:

**Kinks and ties.** At a point where the derivative jumps (relu at 0, hardtanh
at ±1, a max with tied entries) the kernel and the reference may follow
different one-sided derivatives, both correct. Two one-sided truths, at
x ± δ·rms(x)·v (δ = KINK_STEP, v a seeded normal direction), find them: an
entry whose truth moves by more than KINK_JUMP·max|T| under so small a step sits
at a jump. Such an entry is judged against the range of its one-sided truths
and T (the candidate's error there is its distance from that range), and the
report counts them.

**Long sums.** A correct kernel may sum in any order; a sequential n-term sum
in the accumulation dtype is typically off by about √(n/2)·u_acc relative (a
random walk of n roundings of partial sums as large as the result), where the
composite's pairwise or blocked sums round far less. ``recorder`` reads, from
the reference's own graph, the length n of the sum each gradient is the result
of (a convolution's ∂w: N·output pixels); correct code may then reach
c_N + √(n/2)·u_acc/u normwise, c_N plus twice that in the max-norm (the largest of
many entries' errors), and c_S + 3/√N_eff of the normwise part along the truth,
where N_eff = ‖T‖₂⁴/‖T‖₄⁴ counts the entries whose independent errors cancel there.

**Conditioning.** A correct kernel rounds its inputs and every intermediate; how
much that moves the gradient is the function's business. So the float64 truth is
moved the way the standard model fl(a ∘ b) = (a ∘ b)(1 + δ), |δ| ≤ u, says rounding
moves it: each input and the upstream gradient by a relative ±u (one ulp in
float64), and the result of each op of the reference's forward and backward by a
relative ±u (``recorder.Rounder``; views, copies and exact selections are left
alone). The *spread* s_N = ‖T' − T‖_N/‖T‖_N (max-norm, normwise, and
|⟨T' − T, T⟩|/‖T‖² along the truth; the largest of ``spread_draws`` draws, kink entries
left out) gives a generic condition number κ_N = s_N/u; correct code may reach
b_G·κ_N (b_G: ``DtypeInfo.bound_generic``). In float64 the spread shows the
reference's own rounding too, which is how a float64 reference less accurate than
the kernel (log_softmax through its amax) is recognised.

Where the larger of the two exceeds the rule's threshold 2·baseline + c_N, it
becomes the threshold: a short sum or a well-conditioned gradient leaves the
rule as it was, and with it the power the rule has on such code.

All three only ever widen what passes, and are computed only for a dtype with a
failing row: a row that passes the rule alone is judged exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from gradlab.core.verdict import CHECKS, SCALE, TruthNorms, truth_norms
from gradlab.verification.recorder import Rounder

__all__ = ["KINK_JUMP", "KINK_STEP", "SPREAD_DRAWS", "Allowance", "Kinks", "spread_draws",
           "effective_entries", "find_kinks", "measure", "on_range", "spread"]

F64 = torch.float64
#: The one-sided step, relative to each input's root-mean-square: far below any
#: dtype's rounding, far above float64's, so it crosses only the kinks an entry
#: sits on.
KINK_STEP = 2.0**-44
#: A jump: the truth moves by more than this times max|T| under that step. A smooth
#: truth moves by KINK_STEP times its curvature; float64's rounding by ~1e-16·κ.
KINK_JUMP = 2.0**-26
#: The max-norm check takes the largest entry's error: a sequential sum's allowance
#: there is this many times its typical size √(n/2)·u_acc (a 4,096-term float64 bias
#: reached 1.4× it on a held-out seed).
MAX_NORM_SUMS = 2.0
#: Draws of the rounding-sized moves; the spread is the largest. A gradient of few
#: entries samples rounding in few places, so it gets more draws, up to
#: MAX_SPREAD_DRAWS, SPREAD_ENTRIES entries' worth in all.
SPREAD_DRAWS = 2
MAX_SPREAD_DRAWS = 8
SPREAD_ENTRIES = 64


def spread_draws(entries: int) -> int:
    """How many draws a gradient of ``entries`` entries (the smallest one) gets."""
    return min(MAX_SPREAD_DRAWS, max(SPREAD_DRAWS, math.ceil(SPREAD_ENTRIES / max(entries, 1))))


@dataclass(frozen=True)
class Kinks:
    """One input's entries at kinks or ties (``mask``) and the range [lo, hi] of
    the truth and its two one-sided neighbours there."""

    mask: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def find_kinks(truth: torch.Tensor, plus: torch.Tensor, minus: torch.Tensor) -> Kinks:
    """The entries where a truth one step either side jumps from ``truth``."""
    peak = float(truth.abs().max()) if truth.numel() else 0.0
    jump = torch.maximum((plus - truth).abs(), (minus - truth).abs())
    mask = jump > KINK_JUMP * peak
    return Kinks(mask, torch.minimum(torch.minimum(plus, minus), truth),
                 torch.maximum(torch.maximum(plus, minus), truth))


def on_range(grad: torch.Tensor, truth: torch.Tensor, kinks: Kinks | None) -> torch.Tensor:
    """``grad`` in float64, each entry at a kink replaced by T + its distance outside
    the one-sided range [lo, hi]: so its error against T is how far it lies
    outside that range (none inside it)."""
    g = grad.detach().to(F64)
    if kinks is None or not kinks.count:
        return g
    outside = g - torch.minimum(torch.maximum(g, kinks.lo), kinks.hi)
    return torch.where(kinks.mask, truth + outside, g)


def spread(truth: torch.Tensor, moved: torch.Tensor, norms: TruthNorms,
           kinks: Kinks | None) -> dict[str, float]:
    """How far ``moved`` is from ``truth`` in each check, relative, kinks left out."""
    d = (moved - truth)
    if kinks is not None and kinks.count:
        d = d.masked_fill(kinks.mask, 0.0)
    fro = math.sqrt(float(torch.dot(d.reshape(-1), d.reshape(-1))))
    along = abs(float(torch.dot(d.reshape(-1), truth.reshape(-1))))
    peak, ss = norms.peak, norms.fro * norms.fro
    return {"max": float(d.abs().max()) / peak if peak > 0 else 0.0,
            "fro": fro / norms.fro if norms.fro > 0 else 0.0,
            SCALE: along / ss if ss > 0 else 0.0}


@dataclass(frozen=True)
class Allowance:
    """What one dtype's truth showed: each input's kinks, its spread per check
    (relative), the length of the sum its gradient is, and its N_eff."""

    u: float
    u_acc: float
    kinks: Mapping[str, Kinks]
    spreads: Mapping[str, Mapping[str, float]]
    lengths: Mapping[str, int]
    entries: Mapping[str, float]

    def kappa(self, name: str) -> dict[str, float]:
        """κ_N = s_N/u, the generic condition number of input ``name``'s gradient."""
        return {check: s / self.u for check, s in self.spreads[name].items()}

    def sums(self, name: str) -> dict[str, float]:
        """What a sequential sum of the gradient's length adds to each floor, in u:
        √(n/2)·u_acc/u normwise, twice that in the max-norm (the largest of many
        entries' errors), 3/√N_eff of it along the truth."""
        n = self.lengths.get(name, 1)
        per = math.sqrt(n / 2) * self.u_acc / self.u if n > 1 else 0.0
        return {"max": MAX_NORM_SUMS * per, "fro": per,
                SCALE: 3 * per / math.sqrt(self.entries[name])}

    def thresholds(self, name: str, info) -> dict[str, float]:
        """What correct code may reach in each check, in u: b_G·κ_N, or the floor c_N
        plus a sequential sum of the gradient's length, whichever is larger. Where
        this exceeds the rule's threshold it becomes the threshold."""
        kappa, sums = self.kappa(name), self.sums(name)
        return {check: max(info.bound_generic * kappa[check], info.floor(check) + sums[check])
                for check in CHECKS}

    def sentence(self, name: str, bound: float) -> str:
        """What the floor now allows for input ``name``, and the kinks left out."""
        k, n = self.kappa(name), self.lengths.get(name, 1)
        parts = [f"generic κ = {k['fro']:.3g} normwise, {k['max']:.3g} max-norm (the float64 "
                 f"truth's spread when its inputs and intermediates round by u; b_G = "
                 f"{bound:g})"]
        if n > 1:
            sums = self.sums(name)
            parts.append(f"allows a {n:,}-term sequential sum: ≤ {sums['fro']:.3g} u "
                         f"normwise, {sums['max']:.3g} u in one entry")
        kinks = self.kinks.get(name)
        if kinks is not None and kinks.count:
            parts.append(f"{kinks.count} entries at kinks or ties judged against their "
                         "one-sided derivatives")
        return "; ".join(parts)


def measure(truth_at: Callable, wide: list, ups: list, names: list[str | None],
            truth: Mapping[str, torch.Tensor], lengths: Mapping[str, int], u: float,
            u_acc: float, ulp: bool, generator: torch.Generator) -> Allowance:
    """The Allowance of one dtype. ``truth_at(args, ups)`` is the reference's float64
    gradients per input at ``args``; ``wide`` and ``ups`` are the float64 images
    of the rounded inputs and upstream gradients, ``truth`` the truth at them,
    ``lengths`` the sum behind each gradient (``recorder``). ``ulp``: move by one
    ulp (float64) rather than by u."""
    direction = [torch.randn(a.shape, generator=generator, dtype=F64) if n else None
                 for a, n in zip(wide, names)]
    sides = []
    for sign in (1.0, -1.0):
        moved = [a if d is None else a + sign * KINK_STEP * _rms(a) * d
                 for a, d in zip(wide, direction)]
        sides.append(truth_at(moved, ups))
    kinks = {n: find_kinks(t, sides[0][n], sides[1][n]) for n, t in truth.items()}
    norms = {n: truth_norms(t) for n, t in truth.items()}
    spreads = {n: dict.fromkeys(CHECKS, 0.0) for n in truth}
    for _ in range(spread_draws(min(t.numel() for t in truth.values()))):
        moved = [_rounding_move(a, u, ulp, generator) if n else a
                 for a, n in zip(wide, names)]
        moved_ups = [None if w is None else _rounding_move(w, u, ulp, generator) for w in ups]
        grads = truth_at(moved, moved_ups, Rounder(2 * u if ulp else u, generator))
        for n, t in truth.items():
            s = spread(t, grads[n], norms[n], kinks[n])
            spreads[n] = {c: max(spreads[n][c], s[c]) for c in CHECKS}
    return Allowance(u, u_acc, kinks, spreads, dict(lengths),
                     {n: effective_entries(t) for n, t in truth.items()})


def effective_entries(truth: torch.Tensor) -> float:
    """N_eff = ‖T‖₂⁴/‖T‖₄⁴: the number of entries of T that carry its norm (all of
    them for a flat T, one for a spike); at least 1."""
    sq = truth.reshape(-1).to(F64) ** 2
    s2, s4 = float(sq.sum()), float(torch.dot(sq, sq))
    return max(1.0, s2 * s2 / s4) if s4 > 0 and math.isfinite(s4) else 1.0


def _rms(a: torch.Tensor) -> float:
    rms = math.sqrt(float(torch.dot(a.reshape(-1), a.reshape(-1))) / max(a.numel(), 1))
    return rms if rms > 0 else 1.0


def _rounding_move(a: torch.Tensor, u: float, ulp: bool,
                   generator: torch.Generator) -> torch.Tensor:
    """Each entry moved by a relative ±u (a random sign), or by one ulp in float64."""
    sign = torch.randint(0, 2, a.shape, generator=generator, dtype=F64) * 2 - 1
    if ulp:
        return torch.nextafter(a, sign * math.inf)
    return a * (1 + u * sign)
