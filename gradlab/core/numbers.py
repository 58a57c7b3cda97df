"""Numbers as they travel in text: JSON has no NaN or infinity."""

from __future__ import annotations

import math

__all__ = ["json_number", "ratio_or_nan", "ratio_or_zero"]


def json_number(x):
    """``x``, or for a non-finite float the string "nan", "inf" or "-inf" (JSON has
    no NaN or infinity). Anything else passes through."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def ratio_or_zero(num: float, den: float) -> float:
    """num/den for den > 0; 0/0 = 0 (no error of a zero truth), x/0 = inf (an error
    of a zero truth) and NaN/0 = NaN."""
    if den > 0:
        return num / den
    return 0.0 if num == 0 else (math.nan if math.isnan(num) else math.inf)


def ratio_or_nan(num: float, den: float) -> float:
    """num/den for den > 0; NaN otherwise (a relative size with no scale to be
    relative to)."""
    return num / den if den > 0 else math.nan
