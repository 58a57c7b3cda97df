r"""The Taylor remainder test (pyadjoint's ``taylor_test``): tolerance-free, in float64.

For L(x) = ⟨w, f(x)⟩ (w the upstream gradient, summed over outputs), a
direction v and steps h_k = h₀/2^k::

    r(h) = |L(x + h v) − L(x) − h ⟨∇L, v⟩|

is O(h²) when ∇L is the derivative of f, and O(h) when it is not, so the rate
log₂(r(h_k)/r(h_{k+1})) is ≈ 2 for a right gradient and ≈ 1 for a wrong one.
Rounding puts a floor under r(h), about u·(Σ|w ⊙ f(x)| + Σ|w ⊙ f(x + hv)| +
|h⟨∇L, v⟩|); a step is *usable* when r(h) is MARGIN times above it.

The decision reads the signed remainders R(h) = L(x + hv) − L(x) − h⟨∇L, v⟩ of
the usable steps, not their rates. Where f is smooth, R(h) = a·h + b·h² + c·h³ +
O(h⁴) with a = ⟨∇f − ∇L, v⟩, the gradient's error along v; a least-squares fit
of that cubic (relative to each |R|) matches the remainders to about 1e-3. Then

- the first-order share |a·h|/|R(h)| at the smallest usable step says whether
  the error term has taken over: at or above FIRST_ORDER, with the rates of the
  smallest steps below MIN_RATE, the gradient is wrong;
- a fit off by more than FIT_TOL means f is not smooth along v at this scale:
  the steps cross kinks (relu, abs, a max with near-ties) and the rates jump
  about; the test is then *inconclusive* and decides nothing.

So the test fails only on consistent first-order evidence. With fewer than
MIN_POINTS usable steps (L linear in this input, say: r is rounding only) the
test says so and decides nothing.

``joint_test`` moves every differentiated input at once, each along its own
direction: L(x + hV) with V = (v₁, …, vₙ), slope Σᵢ⟨∇ᵢL, vᵢ⟩, whose first-order
term a = Σᵢ⟨∇ᵢf − ∇ᵢL, vᵢ⟩ holds each input's error along its own vᵢ. Its steps
reach down to the usable window's bottom: a probe at h₀ gives R(h₀) ≈ b·h₀², and
the MIN_POINTS steps end at the deepest h_k = h₀/2^k (k ≤ DEEPEST) where b·h_k²
stays GUARD × MARGIN above the floor (steps above are added while too few are
usable). A first-order term a is seen once |a| ≳ |b|·h_min, and the window's
bottom h_min ≈ √(GUARD·MARGIN·floor/|b|) lies below the fixed ladder's
h₀/2⁹ wherever that ladder's steps are all usable: MIN_POINTS + 1 forwards for
any number of inputs, where the per-input ladders take STEPS per input.

Its *reach* |R(h)|/h at its smallest usable step is about the smallest |a| it
resolves (a·h must carry a share FIRST_ORDER of R there). An input's own ladder
(``taylor_test``) resolves about |R(h_last)|/h_last, h_last = h₀/2^(STEPS−1),
estimated from one of its steps (``own_reach``: h_s = h₀/2^SCREEN and
R(h_last) = R(h_s)·(h_last/h_s)², an underestimate where R falls slower than h²,
as a first-order term makes it). The joint test stands for an input only where
its reach is COVER times smaller (an input moved alone: where its smallest step
lies COVER times below h_last, ``covers_alone``), and only where it finds the
gradients consistent; elsewhere that input's own test runs, so a row fails on the
Taylor test exactly where its own test fails. A linear input whose own step is
not usable (r is rounding there: its own test would decide nothing) is covered; a
linear input with an error is not (R = a·h shows without any curvature).

Where the rule vouches (``forwards_agree`` and the caller's checks against VOUCH:
the rule passed, finer than any ladder resolves, gradients that are not all the
truth's bits, and the candidate's forward is the reference's at x), a consistent joint
test stands for every input without their own steps: an error below its reach but
above an own ladder's is then an error the rule would have failed, unless the
candidate shares it with the reference's autograd.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gradlab.core.compare_pass import pair_sums
from gradlab.core.precise import fixed_dot

__all__ = [
    "COVER", "covers_alone", "DEEPEST", "fit_remainders", "forwards_agree", "GUARD",
    "joint_test", "ladder", "Line", "loss_at", "own_line", "own_reach", "pairing", "reach",
    "scaled_direction", "SCREEN", "step_buffer", "Taylor", "taylor_test", "VOUCH"
]

F64 = torch.float64
U64 = 2.0**-53
#: h₀ relative to the input's root-mean-square, and the number of halvings.
H0 = 2.0**-4
STEPS = 10
#: A usable step's remainder is this many times above the rounding floor.
MARGIN = 1e3
#: A rate below this is what a wrong gradient shows (for the rates' reading).
MIN_RATE = 1.5
#: The cubic fits a smooth f's remainders to about 1e-3 (relative, root-mean-square);
#: steps across kinks miss it by 0.1–0.8 (docs/verify.md).
FIT_TOL = 0.05
#: The first-order term's share of the smallest usable remainder that means a wrong
#: gradient: it has taken over from the h² term.
FIRST_ORDER = 0.5
#: Usable steps needed to fit three coefficients and see how well they fit (three
#: degrees of freedom left: with four, any three rates fit).
MIN_POINTS = 6
#: The joint test's deepest step: h₀/2^DEEPEST.
DEEPEST = 30
#: The joint test's smallest step keeps its predicted remainder GUARD × MARGIN above
#: the rounding floor.
GUARD = 8.0
#: The joint test stands for an input whose own ladder resolves COVER × its reach.
COVER = 2.0
#: The rule vouches for the inputs' own ladders where it would fail every further error
#: this large (relative, each norm): 1,000 × below the finest error an input's own
#: ladder resolved in ``bench.bench_taylor_power`` (10⁻⁸–10⁻⁹, on inputs L is linear in).
VOUCH = 1e-12
#: The step of an input's own ladder that estimates what it resolves: the smallest
#: one that ladder needs usable to decide (MIN_POINTS steps from h₀).
SCREEN = MIN_POINTS - 1


@dataclass(frozen=True)
class Taylor:
    """Rates between consecutive usable steps (largest step first), the fit of the
    remainders (``misfit``: relative root-mean-square residual of the cubic;
    ``first_order``: |a·h|/|R(h)| at the smallest usable step; NaN where fewer
    than MIN_POINTS steps are usable) and the rate shown (median of the last
    three rates; NaN when no step pair is usable)."""

    rates: tuple[float, ...]
    usable: int
    steps: int
    note: str = ""  # why the test could not run
    misfit: float = math.nan
    first_order: float = math.nan
    moved: tuple[str, ...] = ()  # the inputs moved together (joint_test), if several
    reach: float = math.nan     # |R(h)|/h at the smallest usable step (joint_test)
    bottom: float = math.nan    # that step h (joint_test)

    vouched: bool = False       # stood for each input's own ladder as the rule vouched

    @property
    def rate(self) -> float:
        return statistics.median(self.rates[-3:]) if self.rates else math.nan

    @property
    def fitted(self) -> bool:
        return math.isfinite(self.misfit)

    @property
    def smooth(self) -> bool:
        """The cubic fits the remainders: f is smooth along v at these steps."""
        return self.fitted and self.misfit <= FIT_TOL

    @property
    def decided(self) -> bool:
        return self.smooth

    @property
    def failed(self) -> bool:
        """Consistent first-order evidence: a smooth fit whose linear term carries the
        smallest remainder, and rates that have fallen below MIN_RATE there."""
        return self.smooth and self.first_order >= FIRST_ORDER and self.rate < MIN_RATE

    def rates_text(self) -> str:
        return ", ".join(f"{r:.2f}" for r in self.rates)

    def sentence(self) -> str:
        if self.note:
            return f"Taylor test not run: {self.note}"
        if not self.fitted:
            return (f"Taylor test: too few usable steps ({self.usable} of {self.steps} "
                    f"remainders above {MARGIN:g}× the rounding floor, {MIN_POINTS} needed; "
                    "L may be linear in this input)")
        rates = f"rates {self.rates_text()} over {self.usable} usable steps"
        if not self.smooth:
            return (f"Taylor test inconclusive (not smooth here): the remainders miss a "
                    f"smooth expansion by {self.misfit:.2g} ({rates}); the steps cross "
                    "kinks, so the test decides nothing")
        verdict = "a wrong gradient" if self.failed else "consistent with the forward"
        together = (f"; {', '.join(self.moved)} moved together" if len(self.moved) > 1
                    else "")
        if self.vouched:
            together += ("; no input's own ladder run: the rule resolves finer, and the "
                         "candidate's forward is the reference's at x")
        return (f"Taylor remainder rate {self.rate:.2f} (≈ 2 right, ≈ 1 wrong; {rates}; "
                f"first-order term {self.first_order:.0%} of the smallest remainder"
                f"{together}): {verdict}")


def fit_remainders(steps: Sequence[float], remainders: Sequence[float]
                   ) -> tuple[float, float]:
    """(misfit, first-order share) of R(h) ≈ a·h + b·h² + c·h³ over the steps given
    (signed remainders, smallest step last), each residual relative to its |R|;
    (NaN, NaN) with fewer than MIN_POINTS steps."""
    if len(steps) < MIN_POINTS:
        return math.nan, math.nan
    h, r = np.asarray(steps, dtype=np.float64), np.asarray(remainders, dtype=np.float64)
    basis = np.stack((h, h * h, h * h * h), axis=1) / np.abs(r)[:, None]
    target = np.sign(r)
    coef, *_ = np.linalg.lstsq(basis, target, rcond=None)
    misfit = float(np.linalg.norm(basis @ coef - target) / math.sqrt(len(r)))
    return misfit, float(abs(coef[0] * h[-1] / r[-1]))


def pairing(upstream: Sequence[torch.Tensor | None]):
    """L and its rounding scale S = Σ|w ⊙ f| from the outputs of f: per output, one
    pass over w and f (``compare_pass.pair_sums``: each product w·f rounded once, its
    sums in a fixed order), the outputs' in turn."""
    def measure(outputs: Sequence[torch.Tensor]) -> tuple[float, float]:
        total = scale = 0.0
        for w, out in zip(upstream, outputs):
            if w is None:
                continue
            pair, size = pair_sums(w, out)
            total += pair
            scale += size     # |w|·|f| = |w·f| exactly
        return total, scale
    return measure


def loss_at(fn: Callable, args: list, upstream: Sequence[torch.Tensor | None],
            outputs: Callable[[object], list]) -> tuple[float, float]:
    """L = ⟨w, f(args)⟩ and its rounding scale Σ|w ⊙ f|, without autograd."""
    with torch.no_grad():
        return pairing(upstream)(outputs(fn(*args)))


def scaled_direction(x: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """v = direction · rms(x), rms(x) = √(Σx²/n) (1 where x is all zero)."""
    rms = math.sqrt(fixed_dot(x, x) / max(x.numel(), 1))
    return direction * (rms if rms > 0 else 1.0)


def step_buffer(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Room for x + h·v, rewritten at each step of a ladder: a fresh x + h·v per step was
    a fresh allocation, whose pages the kernel faulted in (128 MiB at m = n = 4096 in
    float64)."""
    return torch.empty(torch.broadcast_shapes(x.shape, v.shape),
                       dtype=torch.result_type(x, v), device=x.device)


def taylor_test(fn: Callable, args: list, index: int, grad: torch.Tensor,
                upstream: Sequence[torch.Tensor | None], direction: torch.Tensor,
                outputs: Callable[[object], list],
                at_x: tuple[float, float] | None = None) -> Taylor:
    """The test of ``grad`` (float64), the gradient of L with respect to
    ``args[index]``, along ``direction`` (float64, of unit scale): ``ladder`` of
    ``own_line``.

    ``outputs`` turns what ``fn`` returns into its list of outputs; ``at_x`` is
    ``loss_at(fn, args, …)`` where the caller has it (it is the same for every input).
    """
    at_x = at_x if at_x is not None else loss_at(fn, args, upstream, outputs)
    return ladder(own_line(fn, args, index, grad, upstream, direction, outputs, at_x))


def ladder(line: Line) -> Taylor:
    """The fixed ladder along ``line``: its STEPS steps h_k = H0/2^k, k = 0 … STEPS − 1,
    each forward run once on the line (a step it has already taken is not run again),
    their rates and the fit of their remainders."""
    signed, floors = zip(*(line.at(k) for k in range(STEPS)))
    remainders = [abs(r) for r in signed]
    usable = [r > MARGIN * f and math.isfinite(r) for r, f in zip(remainders, floors)]
    rates = tuple(math.log2(remainders[k] / remainders[k + 1]) for k in range(STEPS - 1)
                  if usable[k] and usable[k + 1])
    kept = [k for k in range(STEPS) if usable[k]]
    misfit, first = fit_remainders([H0 / 2**k for k in kept], [signed[k] for k in kept])
    return Taylor(rates, sum(usable), STEPS, misfit=misfit, first_order=first)


class Line:
    """L along x + hV at the steps h_k = H0/2^k, each forward run once: the signed
    remainder R(h_k) = L(x + h_k V) − L(x) − h_k·slope and its rounding floor
    u·(S(x) + S(x + h_k V) + |h_k·slope|). x + h·V is one ``torch.add`` with alpha h
    into a buffer per moved input, rewritten at each step (h a power of 2, so h·v is
    exact)."""

    def __init__(self, fn: Callable, args: list, moves: dict[int, torch.Tensor],
                 slope: float, upstream, outputs: Callable, at_x: tuple[float, float]):
        self.fn, self.args, self.moves, self.slope = fn, args, moves, slope
        self.measure, self.outputs, self.at_x = pairing(upstream), outputs, at_x
        self.points: dict[int, tuple[float, float]] = {}
        self.buffers = {i: step_buffer(args[i], v) for i, v in moves.items()}

    def at(self, k: int) -> tuple[float, float]:
        """(R(h_k), floor(h_k))."""
        if k not in self.points:
            h = H0 / 2**k
            moved = list(self.args)
            for i, v in self.moves.items():   # x + h·v, h a power of 2
                moved[i] = torch.add(self.args[i], v, alpha=h, out=self.buffers[i])
            with torch.no_grad():
                Lh, Sh = self.measure(self.outputs(self.fn(*moved)))
            L0, S0 = self.at_x
            self.points[k] = (Lh - L0 - h * self.slope, U64 * (S0 + Sh + abs(h * self.slope)))
        return self.points[k]

    def usable(self, k: int) -> bool:
        r, floor = self.at(k)
        return math.isfinite(r) and abs(r) > MARGIN * floor


def _bottom(r0: float, floor0: float) -> int:
    """The deepest k (MIN_POINTS − 1 … DEEPEST) where R(h₀)·4^−k, the h² term carried
    down, stays GUARD × MARGIN above ``floor0``."""
    k = int(math.log(abs(r0) / (GUARD * MARGIN * floor0), 4))
    return min(max(k, MIN_POINTS - 1), DEEPEST)


def _ladder(line: Line) -> list[int]:
    """The usable steps, largest first: MIN_POINTS steps ending at ``_bottom``, then
    larger steps while fewer than MIN_POINTS are usable (at most STEPS forwards
    besides the probe)."""
    low = _bottom(*line.at(0))
    ks = list(range(low, low - MIN_POINTS, -1))
    kept = [k for k in ks if line.usable(k)]
    k = ks[-1]
    while len(kept) < MIN_POINTS and k > 0 and len(line.points) <= STEPS:
        k -= 1
        if line.usable(k):
            kept.append(k)
    return sorted(kept)


def joint_test(fn: Callable, args: list, grads: dict[int, torch.Tensor],
               upstream: Sequence[torch.Tensor | None], directions: dict[int, torch.Tensor],
               outputs: Callable[[object], list], at_x: tuple[float, float],
               names: tuple[str, ...] = (), scaled: dict[int, torch.Tensor] | None = None
               ) -> Taylor:
    """The Taylor test of every gradient in ``grads`` (input index → float64 gradient of
    L) at once, each input moved along its ``directions`` entry scaled to its rms:
    slope = Σᵢ⟨gradᵢ, vᵢ⟩, steps down to the usable window's bottom (module
    docstring). ``at_x`` is ``loss_at(fn, args, …)``; ``names`` the inputs moved,
    for the sentence. Undecided (no usable step) where R(h₀) is not usable.
    ``scaled``: each input's ``scaled_direction`` where the caller has it (the same
    as scaling ``directions`` here)."""
    moves = {i: scaled[i] if scaled and i in scaled
             else scaled_direction(args[i], directions[i]) for i in grads}
    slope = sum(fixed_dot(g.to(F64), moves[i]) for i, g in grads.items())
    line = Line(fn, args, moves, slope, upstream, outputs, at_x)
    if not line.usable(0):
        return Taylor((), 0, 1, moved=names)
    kept = _ladder(line)
    signed = [line.at(k)[0] for k in kept]
    rates = tuple(math.log2(abs(signed[j]) / abs(signed[j + 1])) for j in range(len(kept) - 1)
                  if kept[j + 1] == kept[j] + 1)
    misfit, first = fit_remainders([H0 / 2**k for k in kept], signed)
    return Taylor(rates, len(kept), len(line.points), misfit=misfit, first_order=first,
                  moved=names, reach=abs(signed[-1]) / (H0 / 2**kept[-1]),
                  bottom=H0 / 2**kept[-1])


def forwards_agree(candidate: tuple[float, float], reference: tuple[float, float]) -> bool:
    """Whether the candidate's L(x) and the reference's (each with its rounding scale S,
    ``pairing``) differ by at most MARGIN × their rounding floor u·(S_c + S_r): less than
    any Taylor step would count as a remainder."""
    (l_c, s_c), (l_r, s_r) = candidate, reference
    return abs(l_c - l_r) <= MARGIN * U64 * (s_c + s_r)


def covers_alone(joint: Taylor) -> bool:
    """For a joint test that moved one input: whether it resolves COVER × less than
    that input's ``taylor_test``, whose remainders, by R ∝ h², resolve
    reach·h_last/bottom (h_last = H0/2^(STEPS−1)): its smallest step lies COVER ×
    below h_last."""
    return COVER * joint.bottom <= H0 / 2**(STEPS - 1)


def own_line(fn: Callable, args: list, index: int, grad: torch.Tensor,
             upstream: Sequence[torch.Tensor | None], direction: torch.Tensor,
             outputs: Callable[[object], list], at_x: tuple[float, float],
             scaled: torch.Tensor | None = None) -> Line:
    """The line of input ``index`` moved alone, along v = ``scaled_direction(args[index],
    direction)`` (``scaled`` where the caller has it), with slope ⟨grad, v⟩: where
    ``own_reach`` and that input's ``ladder`` take their steps, so a step the one has
    taken the other does not run again."""
    v = scaled_direction(args[index], direction) if scaled is None else scaled
    return Line(fn, args, {index: v}, fixed_dot(grad.to(F64), v), upstream, outputs, at_x)


def own_reach(fn: Callable, args: list, index: int, grad: torch.Tensor,
              upstream: Sequence[torch.Tensor | None], direction: torch.Tensor,
              outputs: Callable[[object], list], at_x: tuple[float, float],
              scaled: torch.Tensor | None = None) -> float:
    """``reach`` of ``own_line``."""
    return reach(own_line(fn, args, index, grad, upstream, direction, outputs, at_x, scaled))


def reach(line: Line) -> float:
    """What ``ladder`` of an input's own ``line`` would resolve, from one of its steps
    h_s = H0/2^SCREEN: |R(h_s)|·h_last/h_s² (module docstring); inf where R(h_s)
    is finite but not usable (that ladder would decide nothing), 0 where it is not
    finite (only the ladder can say)."""
    r, _ = line.at(SCREEN)
    if not math.isfinite(r):
        return 0.0
    if not line.usable(SCREEN):
        return math.inf
    h_s, h_last = H0 / 2**SCREEN, H0 / 2**(STEPS - 1)
    return abs(r) * h_last / h_s**2
