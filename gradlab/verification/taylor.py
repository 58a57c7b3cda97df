r"""The Taylor remainder test (pyadjoint's ``taylor_test``): tolerance-free, in float64.

For L(x) = ⟨w, f(x)⟩ (w the upstream gradient, summed over outputs), a
direction v and steps h_k = h₀/2^k::

    r(h) = |L(x + h v) − L(x) − h ⟨∇L, v⟩|

is O(h²) when ∇L is the derivative of f, and O(h) when it is not, so the rate
log₂(r(h_k)/r(h_{k+1})) is ≈ 2 for a right gradient and ≈ 1 for a wrong one.
Rounding puts a floor under r(h), about u·(Σ|w ⊙ f(x)| + Σ|w ⊙ f(x + hv)| +
|h⟨∇L, v⟩|); a step is *usable* when r(h) is MARGIN times above it. The test
reads the rates between consecutive usable steps and decides on the median
of the last three (the smallest steps, where higher-order terms have died
out): below MIN_RATE the gradient is wrong. With no usable step (L linear
in this input, say: r is rounding only) the test says so and decides nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gradlab.core.precise import fixed_dot, fixed_sum

F64 = torch.float64
U64 = 2.0**-53
#: h₀ relative to the input's root-mean-square, and the number of halvings.
H0 = 2.0**-4
STEPS = 10
#: A usable step's remainder is this many times above the rounding floor.
MARGIN = 1e3
#: A rate below this over the smallest usable steps means a wrong gradient.
MIN_RATE = 1.5


@dataclass(frozen=True)
class Taylor:
    """Rates between consecutive usable steps (largest step first) and the decisive
    rate (median of the last three; NaN when no step pair is usable)."""

    rates: tuple[float, ...]
    usable: int
    steps: int
    note: str = ""  # why the test could not run

    @property
    def rate(self) -> float:
        return statistics.median(self.rates[-3:]) if self.rates else math.nan

    @property
    def decided(self) -> bool:
        return bool(self.rates)

    @property
    def failed(self) -> bool:
        return self.decided and self.rate < MIN_RATE

    def rates_text(self) -> str:
        return ", ".join(f"{r:.2f}" for r in self.rates)

    def sentence(self) -> str:
        if self.note:
            return f"Taylor test not run: {self.note}"
        if not self.decided:
            return (f"Taylor test: no usable step ({self.usable} of {self.steps} remainders "
                    f"above {MARGIN:g}× the rounding floor; L may be linear in this input)")
        verdict = "a wrong gradient" if self.failed else "consistent with the forward"
        return (f"Taylor remainder rate {self.rate:.2f} (≈ 2 right, ≈ 1 wrong; rates "
                f"{self.rates_text()} over {self.usable} usable steps): {verdict}")


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
        remainders, floors = [], []
        for k in range(STEPS):
            h = H0 / 2**k
            moved = list(args)
            moved[index] = x + h * v
            Lh, Sh = measure(outputs(fn(*moved)))
            remainders.append(abs(Lh - L0 - h * slope))
            floors.append(U64 * (S0 + Sh + abs(h * slope)))
    usable = [r > MARGIN * f and math.isfinite(r) for r, f in zip(remainders, floors)]
    rates = tuple(math.log2(remainders[k] / remainders[k + 1]) for k in range(STEPS - 1)
                  if usable[k] and usable[k + 1])
    return Taylor(rates, sum(usable), STEPS)
