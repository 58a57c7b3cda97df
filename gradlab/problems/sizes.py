"""A size sweep of a built-in problem: ``verify`` at several sizes, one frame.

The frame has the report's columns (``report.COLUMNS``) plus ``size`` (the
problem's size knob), ``problem`` and ``candidate_name``, one row per (size,
dtype, differentiated input), sizes in the order given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.core.validate import positive_int
from gradlab.problems.registry import Problem
from gradlab.verification.report import COLUMNS, Report

__all__ = ["check_sizes", "size_sweep", "sizes_frame", "SWEEP_COLUMNS"]

#: The columns a size sweep adds in front of the report's.
SWEEP_COLUMNS = ("size", "problem", "candidate_name")


def check_sizes(sizes: Sequence[int], name: str = "sizes") -> tuple[int, ...]:
    """The sizes as a tuple of ints ≥ 1, duplicates dropped, order kept."""
    sizes = tuple(dict.fromkeys(sizes))
    if not sizes:
        raise GradlabError(f"{name} must list at least one size", name)
    for size in sizes:
        positive_int(name, size)
    return sizes


def sizes_frame(reports: Mapping[int, Report], problem: str = "",
                candidate: str = "") -> pd.DataFrame:
    """The reports' rows, each with the size it ran at, in one frame."""
    parts = [report.frame.assign(size=size, problem=problem, candidate_name=candidate)
             for size, report in reports.items()]
    columns = [*SWEEP_COLUMNS, *COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def size_sweep(problem: Problem, candidate: str = "correct", sizes: Sequence[int] = (),
               dtypes=None, seed: int = 0, limits: Limits | None = None) -> pd.DataFrame:
    """``problem.verify(candidate, size, dtypes, seed)`` at each of ``sizes`` (default
    the problem's own), as one frame (``sizes_frame``)."""
    sizes = check_sizes(sizes or problem.sizes)
    problem.candidate(candidate)
    reports = {size: problem.verify(candidate, size, dtypes, seed, limits) for size in sizes}
    return sizes_frame(reports, problem.name, candidate)
