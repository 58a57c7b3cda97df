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
report counts them. An entry can also sit *within rounding* of a kink of some
intermediate (a grid sample a rounding away from a cell edge, a sparsemax entry
a rounding away from the support): there correct code in the dtype may take either
branch. So the truth is also moved the way rounding moves it (see Conditioning
below), JUMP_PROBE times as far, in mirror-image pairs (every sign negated); a
smooth entry's two changes cancel to second order, so an entry whose truth changes
by more than JUMP_ROUNDING·u·max|T| and not antisymmetrically
(|d₊ + d₋| > JUMP_ASYMMETRY·max(|d₊|, |d₋|)) sits within rounding of a jump. Its
truth is not defined to the dtype's precision, so it leaves the comparison, and the
report counts it. (Not in float64: its rounding is far finer than any kink the
inputs meet, and its truth's own rounding noise, which a pair does not cancel, is
what κ measures there.)

**Long sums.** A correct kernel may sum in any order; a sequential n-term sum
in the accumulation dtype is typically off by about √(n/2)·u_acc relative (a
random walk of n roundings of partial sums as large as the result), where the
autograd's pairwise or blocked sums round far less. ``recorder`` reads, from
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
relative ±u (``recorder.Rounder``; views, copies, exact selections and integer
arithmetic, such as an index floor(x) + 1, are left alone). The *spread*
s_N = ‖T' − T‖_N/‖T‖_N (max-norm, normwise, and |⟨T' − T, T⟩|/‖T‖² along the truth;
the largest of ``spread_draws`` draws, kink entries left out) gives a generic condition number
κ_N = s_N/u; correct code may reach b_G·κ_N (b_G: ``DtypeInfo.bound_generic``). In
float64 the spread shows the reference's own rounding too, which is how a float64
reference less accurate than the kernel (log_softmax through its amax) is
recognised.

Where the larger of the two exceeds the rule's threshold 2·autograd + c_N, it
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

from gradlab.core.dtypes import GENERIC_BOUND_SCALE
from gradlab.core.verdict import CHECKS, SCALE, TruthNorms, truth_norms
from gradlab.verification.recorder import Rounder

__all__ = ["KINK_JUMP", "KINK_STEP", "SPREAD_DRAWS", "Allowance", "Kinks", "spread_draws",
           "effective_entries", "find_jumps", "find_kinks", "measure", "on_range", "spread"]

F64 = torch.float64
#: The one-sided step, relative to each input's root-mean-square: far below any
#: dtype's rounding, far above float64's, so it crosses only the kinks an entry
#: sits on.
KINK_STEP = 2.0**-44
#: A jump: the truth moves by more than this times max|T| under that step. A smooth
#: truth moves by KINK_STEP times its curvature; float64's rounding by ~1e-16·κ.
KINK_JUMP = 2.0**-26
#: A jump within rounding: under a rounding-sized move and its mirror image an
#: entry's truth changes by more than JUMP_ROUNDING·u·max|T| (less never matters
#: to a verdict whose floor is several u), and the two changes fail to cancel by
#: more than JUMP_ASYMMETRY of the larger (a smooth entry's cancel to O(κ²u²)).
JUMP_ROUNDING = 4.0
JUMP_ASYMMETRY = 0.5
#: The pairs move by this many times a rounding (u per op result, input and upstream
#: entry), and there are at least JUMP_PAIRS of them, so that an entry that the
#: kernel's own few roundings carry across a kink (≲ 5u of a coordinate computed in
#: three or four ops) is found with high probability, not by luck: a pair moves it
#: by ~N(0, 4u·√ops) and crosses a kink on either side.
JUMP_PROBE = 4.0
JUMP_PAIRS = 4
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

    @property
    def near(self) -> int:
        """How many of them sit within rounding of a kink (left out: no range)."""
        return int((self.mask & torch.isinf(self.lo)).sum())

    def widened(self, near: torch.Tensor) -> Kinks:
        """These kinks and the entries of ``near``, which leave the comparison: their
        range is everything."""
        near = near & ~self.mask
        return Kinks(self.mask | near, self.lo.masked_fill(near, -math.inf),
                     self.hi.masked_fill(near, math.inf))


def find_kinks(truth: torch.Tensor, plus: torch.Tensor, minus: torch.Tensor) -> Kinks:
    """The entries where a truth one step either side jumps from ``truth``."""
    peak = float(truth.abs().max()) if truth.numel() else 0.0
    jump = torch.maximum((plus - truth).abs(), (minus - truth).abs())
    mask = jump > KINK_JUMP * peak
    return Kinks(mask, torch.minimum(torch.minimum(plus, minus), truth),
                 torch.maximum(torch.maximum(plus, minus), truth))


def find_jumps(truth: torch.Tensor, plus: torch.Tensor, minus: torch.Tensor,
               u: float) -> torch.Tensor:
    """The entries whose truth jumps under a rounding-sized move (``plus``) or its
    mirror image (``minus``): a change above JUMP_ROUNDING·u·max|T| that the other
    does not undo."""
    peak = float(truth.abs().max()) if truth.numel() else 0.0
    d_plus, d_minus = plus - truth, minus - truth
    larger = torch.maximum(d_plus.abs(), d_minus.abs())
    return (larger > JUMP_ROUNDING * u * peak) & \
        ((d_plus + d_minus).abs() > JUMP_ASYMMETRY * larger)


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
    """How far ``moved`` is from ``truth`` in each check, relative, the entries at or
    within rounding of a kink left out (their jumps are not conditioning)."""
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
        """What correct code may reach in each check, in u: b_G·κ_N (along the truth
        GENERIC_BOUND_SCALE·κ_S), or the floor c_N
        plus a sequential sum of the gradient's length, whichever is larger. Where
        this exceeds the rule's threshold it becomes the threshold."""
        kappa, sums = self.kappa(name), self.sums(name)
        bound = {check: GENERIC_BOUND_SCALE if check == SCALE else info.bound_generic
                 for check in CHECKS}
        return {check: max(bound[check] * kappa[check], info.floor(check) + sums[check])
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
            near, at = kinks.near, kinks.count - kinks.near
            said = [f"{at} entries at kinks or ties judged against their one-sided "
                    "derivatives"] if at else []
            if near:
                said.append(f"{near} entries within rounding of a kink (the truth jumps when "
                            "rounding moves the inputs) left out")
            parts.append(", and ".join(said))
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
    draws = spread_draws(min(t.numel() for t in truth.values()))
    step = 2 * u if ulp else u  # what one op's rounding moves a result by, relative
    # Mirror-image pairs find the jumps within rounding; not in float64, where a
    # rounding is far from any kink the samples meet, and the truth's own rounding
    # noise (which does not cancel between the pair) is what κ measures.
    for _ in range(0 if ulp else max(draws, JUMP_PAIRS)):
        signs = [_signs(a, generator) if n else None for a, n in zip(wide, names)]
        up_signs = [None if w is None else _signs(w, generator) for w in ups]
        rounder = Rounder(JUMP_PROBE * step, generator)
        pair = [truth_at([a if g is None else a * (1 + side * JUMP_PROBE * step * g)
                          for a, g in zip(wide, signs)],
                         [None if w is None else w * (1 + side * JUMP_PROBE * step * g)
                          for w, g in zip(ups, up_signs)],
                         rounder if side > 0 else Rounder.mirror(rounder))
                for side in (1, -1)]
        for n, t in truth.items():
            jumps = find_jumps(t, pair[0][n], pair[1][n], step)
            if bool(jumps.any()):
                kinks[n] = kinks[n].widened(jumps)
    for _ in range(draws):
        moved = [_moved(a, _signs(a, generator), u, ulp) if n else a
                 for a, n in zip(wide, names)]
        moved_ups = [None if w is None else _moved(w, _signs(w, generator), u, ulp) for w in ups]
        grads = truth_at(moved, moved_ups, Rounder(step, generator))
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


def _signs(a: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random ±1 per entry of ``a``."""
    return torch.randint(0, 2, a.shape, generator=generator, dtype=F64) * 2 - 1


def _moved(a: torch.Tensor, sign: torch.Tensor, u: float, ulp: bool) -> torch.Tensor:
    """Each entry of ``a`` moved by a relative u (one ulp in float64) towards ``sign``."""
    if ulp:
        return torch.nextafter(a, sign * math.inf)
    return a * (1 + u * sign)
