"""What one corpus entry is: a candidate, its reference and its inputs, as frozen data.

The corpus (``gradlab.corpus``) checks real code with ``gradlab.verify``: torch's own
differentiable operators from its OpInfo database (``opinfo``) and hand-written
backward passes in the styles real projects use (``kernels``). Each becomes an
``Entry`` per seed; an op that cannot be checked becomes a ``Skipped`` with the
reason, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError

__all__ = ["FAMILIES", "Entry", "Skipped"]

#: Where an entry comes from: torch's OpInfo database, or a hand-written kernel.
FAMILIES = ("opinfo", "kernel")


@dataclass(frozen=True)
class Entry:
    """One call of ``gradlab.verify(candidate, reference, inputs, dtypes, seed)``.

    ``name`` is unique in the corpus ("nn.functional.relu#0": the op and its
    sample). ``reference_kind`` says where the reference comes from
    ("torch._refs", "torch._decomp", "formula", "eager"). ``inputs`` maps names
    to shapes or float64 tensors (verify rounds them to each dtype); integer and
    bool tensors are fixed. ``note`` is free text for the report.
    """

    name: str
    family: str
    candidate: Callable
    reference: Callable
    inputs: Mapping
    dtypes: tuple[str, ...] = DTYPE_NAMES
    reference_kind: str = "formula"
    note: str = ""
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise GradlabError(f"family must be one of {', '.join(FAMILIES)} "
                               f"(got {self.family!r})", "family")
        bad = [d for d in self.dtypes if d not in DTYPE_NAMES]
        if bad or not self.dtypes:
            raise GradlabError(f"entry {self.name!r}: dtypes must be among "
                               f"{', '.join(DTYPE_NAMES)} (got {self.dtypes!r})", "entry")


@dataclass(frozen=True)
class Skipped:
    """An op the corpus cannot check, and why (no reference, no floating input…)."""

    name: str
    family: str
    reason: str
