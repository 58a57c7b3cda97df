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
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gradlab.core.precise import fixed_dot, fixed_sum

__all__ = ["Taylor", "fit_remainders", "loss_at", "pairing", "taylor_test"]

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
        return (f"Taylor remainder rate {self.rate:.2f} (≈ 2 right, ≈ 1 wrong; {rates}; "
                f"first-order term {self.first_order:.0%} of the smallest remainder): "
                f"{verdict}")


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
    """L and its rounding scale S = Σ|w ⊙ f| from the outputs of f."""
    def measure(outputs: Sequence[torch.Tensor]) -> tuple[float, float]:
        total = scale = 0.0
        for w, out in zip(upstream, outputs):
            if w is None:
                continue
            product = w.reshape(-1) * out.detach().to(F64).reshape(-1)
            total += fixed_sum(product)
            scale += fixed_sum(product.abs())     # |w|·|f| = |w·f| exactly
        return total, scale
    return measure


def loss_at(fn: Callable, args: list, upstream: Sequence[torch.Tensor | None],
            outputs: Callable[[object], list]) -> tuple[float, float]:
    """L = ⟨w, f(args)⟩ and its rounding scale Σ|w ⊙ f|, without autograd."""
    with torch.no_grad():
        return pairing(upstream)(outputs(fn(*args)))


def taylor_test(fn: Callable, args: list, index: int, grad: torch.Tensor,
                upstream: Sequence[torch.Tensor | None], direction: torch.Tensor,
                outputs: Callable[[object], list],
                at_x: tuple[float, float] | None = None) -> Taylor:
    """The test of ``grad`` (float64), the gradient of L with respect to
    ``args[index]``, along ``direction`` (float64, of unit scale).

    ``outputs`` turns what ``fn`` returns into its list of outputs; ``at_x`` is
    ``loss_at(fn, args, …)`` where the caller has it (it is the same for every input).
    """
    measure = pairing(upstream)
    x = args[index]
    rms = math.sqrt(fixed_dot(x, x) / max(x.numel(), 1))
    v = direction * (rms if rms > 0 else 1.0)
    slope = fixed_dot(grad.to(F64), v)                      # ⟨∇L, v⟩
    L0, S0 = at_x if at_x is not None else loss_at(fn, args, upstream, outputs)
    with torch.no_grad():
        signed, floors = [], []
        for k in range(STEPS):
            h = H0 / 2**k
            moved = list(args)
            moved[index] = x + h * v
            Lh, Sh = measure(outputs(fn(*moved)))
            signed.append(Lh - L0 - h * slope)
            floors.append(U64 * (S0 + Sh + abs(h * slope)))
    remainders = [abs(r) for r in signed]
    usable = [r > MARGIN * f and math.isfinite(r) for r, f in zip(remainders, floors)]
    rates = tuple(math.log2(remainders[k] / remainders[k + 1]) for k in range(STEPS - 1)
                  if usable[k] and usable[k + 1])
    kept = [k for k in range(STEPS) if usable[k]]
    misfit, first = fit_remainders([H0 / 2**k for k in kept], [signed[k] for k in kept])
    return Taylor(rates, sum(usable), STEPS, misfit=misfit, first_order=first)
