r"""Central finite differences of dL/dW in a dtype, and the step study.

A finite-difference checker estimates each entry of the gradient as

    (L(W + h e_ij) − L(W − h e_ij)) / (2h)

with every forward pass in the case's dtype. Its error against the exact
gradient is a V in the step h: truncation ~ h² on the right, rounding
~ u·|L|/h on the left, smallest near h* ≈ ε_mach^(1/3) (ε_mach = 2u, the
machine epsilon of the dtype): 6.1e-6 in float64, but 4.9e-3 in float32,
where the best estimate is still only good to about 1e-4 relative. For
h below the spacing of W's entries, W + h == W and the estimate is exactly 0.
That is why a finite-difference checker run in float32 cannot tell a small
derivation mistake from its own noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.core.errors import GradlabError
from gradlab.problems.seed import layer
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.inputs import Inputs, case_inputs
from gradlab.problems.seed.reference import reference_grads

__all__ = [
    "central_difference", "losses", "machine_eps", "MAX_ENTRIES", "optimum", "step_study", "STEPS",
    "StepStudy", "theory_step"
]

#: Steps of the default study: 10⁻¹² … 1, four per decade.
STEPS: tuple[float, ...] = tuple(float(10.0 ** (k / 4)) for k in range(-48, 1))
#: The study's largest W: the estimate holds m·n perturbed copies of W (m²n² entries).
MAX_ENTRIES = 32 * 32


def machine_eps(dtype: str) -> float:
    """ε_mach = 2u: the gap between 1 and the next float."""
    return 2 * dtype_info(dtype).u


def theory_step(dtype: str) -> float:
    """h* = ε_mach^(1/3), the textbook optimum step of a central difference."""
    return machine_eps(dtype) ** (1 / 3)


def losses(Ws: torch.Tensor, X, g, b, eps, placement: str) -> torch.Tensor:
    """L for each of a stack of weight matrices Ws (k, m, n), in their dtype."""
    a = X @ Ws.transpose(-1, -2)                # (k, batch, m)
    u = layer.scale(a, eps, placement)
    v = layer.output(a, u, g, b)
    return (v**2).sum(dim=(-2, -1))


def central_difference(inputs: Inputs, placement: str, h: float) -> np.ndarray:
    """The central-difference estimate of dL/dW (m×n, float64) for step ``h``.

    W ± h·e_ij and every forward pass are in the inputs' dtype; the
    difference of the two losses is taken in that dtype too, then divided by
    2h in float64 (so a tiny h does not overflow a narrow dtype on its own).
    """
    if not (isinstance(h, (int, float)) and math.isfinite(h) and h > 0):
        raise GradlabError(f"h must be a finite number > 0 (got {h!r})", "h")
    W = inputs.W
    m, n = W.shape
    if m * n > MAX_ENTRIES:
        raise GradlabError(f"finite differences need m·n ≤ {MAX_ENTRIES} (got m={m}, n={n})")
    basis = torch.eye(m * n, dtype=torch.float64).reshape(m * n, m, n)
    step = (basis * h).to(W.dtype)              # h rounded to the dtype, as a checker would
    with torch.no_grad():
        plus = losses(W + step, inputs.X, inputs.g, inputs.b, inputs.eps, placement)
        minus = losses(W - step, inputs.X, inputs.g, inputs.b, inputs.eps, placement)
        diff = (plus - minus).to(torch.float64)
    return (diff / (2 * h)).reshape(m, n).cpu().numpy()


@dataclass(frozen=True)
class StepStudy:
    """The cases of a step study: one per dtype, same draws."""

    m: int = 8
    n: int = 8
    dtypes: tuple[str, ...] = DTYPE_NAMES
    eps: float = 0.0
    eps_placement: str = "inside"
    seed: int = 0
    steps: tuple[float, ...] = STEPS

    def __post_init__(self):
        if not self.dtypes:
            raise GradlabError("dtypes must name at least one dtype (got none)", "dtypes")
        for name in self.dtypes:
            dtype_info(name)
        if not self.steps:
            raise GradlabError("steps must hold at least one step h (got none)", "steps")
        for h in self.steps:
            if not (isinstance(h, (int, float)) and math.isfinite(h) and h > 0):
                raise GradlabError(f"each step h must be a finite number > 0 (got {h!r})")
        if self.m * self.n > MAX_ENTRIES:
            raise GradlabError(
                f"finite differences need m·n ≤ {MAX_ENTRIES} (got m={self.m}, n={self.n})")
        self.case(self.dtypes[0])  # validates m, n, eps, placement, seed

    def case(self, dtype: str) -> Case:
        return Case(m=self.m, n=self.n, dtype=dtype, eps=self.eps,
                    eps_placement=self.eps_placement, seed=self.seed)


def step_study(study: StepStudy = StepStudy()) -> pd.DataFrame:
    """One row per (dtype, h): the estimate's absolute and relative error
    (max over entries, against the reference from the same rounded inputs),
    whether it was exactly 0 (W + h == W for every entry) or non-finite."""
    rows = []
    for dtype in study.dtypes:
        case = study.case(dtype)
        inputs = case_inputs(case)
        ref = reference_grads(inputs, case.eps_placement).to_float64("W")
        ref_max = float(np.abs(ref).max())
        for h in study.steps:
            est = central_difference(inputs, case.eps_placement, h)
            finite = np.isfinite(est)
            abs_err = float(np.abs(est - ref).max()) if finite.all() else math.nan
            rows.append({
                "dtype": dtype, "h": h, "abs_err": abs_err,
                "rel_err": abs_err / ref_max if ref_max > 0 else math.nan,
                "zero_estimate": bool(finite.all() and (est == 0).all()),
                "nonfinite": int((~finite).sum()),
                "ref_max_abs": ref_max, "h_theory": theory_step(dtype),
            })
    return pd.DataFrame(rows)


def optimum(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dtype: the measured best step (smallest error) beside ε_mach^(1/3)."""
    rows = []
    for dtype, group in frame.groupby("dtype", sort=False):
        usable = group[np.isfinite(group["rel_err"])]
        if usable.empty:
            continue
        best = usable.loc[usable["rel_err"].idxmin()]
        rows.append({"dtype": dtype, "h_best": float(best["h"]),
                     "rel_err_best": float(best["rel_err"]),
                     "abs_err_best": float(best["abs_err"]),
                     "h_theory": theory_step(dtype)})
    return pd.DataFrame(rows, columns=["dtype", "h_best", "rel_err_best", "abs_err_best",
                                       "h_theory"])
