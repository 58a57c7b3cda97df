"""Validators shared by the frozen configs: each names the field and the limit."""

from __future__ import annotations

import math

from gradlab.core.errors import GradlabError

__all__ = ["finite_float", "positive_int"]


def positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GradlabError(f"{name} must be an integer ≥ 1 (got {value!r})", name)
    if value < 1:
        raise GradlabError(f"{name} must be ≥ 1 (got {value})", name)


def finite_float(name: str, value, minimum: float | None = None, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GradlabError(f"{name} must be a number (got {value!r})", name)
    if math.isnan(value) or math.isinf(value):
        raise GradlabError(f"{name} must be finite (got {value})", name)
    if minimum is not None and (value <= minimum if strict else value < minimum):
        sign = ">" if strict else "≥"
        raise GradlabError(f"{name} must be {sign} {minimum:g} (got {value:g})", name)
