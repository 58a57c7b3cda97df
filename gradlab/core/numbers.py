"""Numbers as they travel in text: JSON has no NaN or infinity."""

from __future__ import annotations

import math

__all__ = ["json_number"]


def json_number(x):
    """``x``, or for a non-finite float the string "nan", "inf" or "-inf" (JSON has
    no NaN or infinity). Anything else passes through."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x
