"""The built-in problems, by name: the one registry the CLI (``verify --problem``), the
tests, the benchmarks and the dashboard read."""

from __future__ import annotations

from collections.abc import Mapping

from gradlab.core.errors import GradlabError
from gradlab.problems import attention, cross_entropy, gelu, layernorm
from gradlab.problems.registry import Problem
from gradlab.problems.seed import problem as seed_layer

__all__ = ["problem", "PROBLEMS"]

#: Every built-in problem, by name.
PROBLEMS: Mapping[str, Problem] = {
    p.name: p for p in (seed_layer.PROBLEM, layernorm.PROBLEM, cross_entropy.PROBLEM,
                        gelu.PROBLEM, attention.PROBLEM)
}


def problem(name: str) -> Problem:
    """The built-in problem ``name``; a clear error naming the choices."""
    try:
        return PROBLEMS[name]
    except (KeyError, TypeError):
        raise GradlabError(f"problem must be one of {', '.join(PROBLEMS)} (got "
                           f"{name!r})", "problem") \
            from None
