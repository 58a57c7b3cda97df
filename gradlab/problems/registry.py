"""What a built-in problem is: a reference, its candidates and its sizes, as frozen
data. The problems themselves are listed in ``library.PROBLEMS``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gradlab.core.dtypes import dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.validate import positive_int
from gradlab.problems import planted
from gradlab.verification.run import DEFAULT_DTYPES, Mistake, verify
from gradlab.verification.spec import side_generator

__all__ = [
    "Candidate", "derivation_mistake", "hand_written", "kernel", "KINDS", "planted_bugs",
    "Problem", "problem_generator"
]

#: The kinds of candidate: the hand-written backward, a planted mistake in it,
#: and a kernel of torch's own.
KINDS = ("correct", "mistake", "kernel")
#: A problem's own draws (a weight scaled by 1/√n, class indices) come from this
#: generator, seeded apart from verify's own stream.
problem_generator = side_generator


@dataclass(frozen=True)
class Candidate:
    """One function whose backward is under test.

    ``fn`` is called like the problem's reference. ``mistake`` (planted mistakes
    only) is its exact mathematics beside the correct one, from which verify
    measures the mistake's effect (``gradlab.verification.Mistake``).
    """

    name: str
    kind: str
    description: str
    fn: Callable
    mistake: Mistake | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise GradlabError(f"kind must be one of {', '.join(KINDS)} (got "
                               f"{self.kind!r})", "kind")
        if (self.kind == "mistake") != (self.mistake is not None):
            raise GradlabError(f"candidate {self.name!r}: a mistake, and only a mistake, "
                               "gives its exact mathematics", "candidate")


@dataclass(frozen=True)
class Problem:
    """A reference forward in plain torch ops, its candidates and the size knob.

    ``draw(size, seed)`` gives verify's ``inputs``: name → shape, or a tensor
    the problem draws itself from ``problem_generator(seed)``. ``size`` is what
    ``size_name`` says (a width, a sequence length…); ``sizes`` are the sizes
    the tests, benchmarks and pages offer, ``default_size`` one of them.
    """

    name: str
    title: str
    formula: str
    reference: Callable
    candidates: tuple[Candidate, ...]
    draw: Callable[[int, int], dict]
    size_name: str
    sizes: tuple[int, ...]
    default_size: int

    def __post_init__(self):
        names = [c.name for c in self.candidates]
        if len(set(names)) != len(names):
            raise GradlabError(f"problem {self.name!r} repeats a candidate name: {names}",
                               "problem")
        if self.default_size not in self.sizes:
            raise GradlabError(f"default_size {self.default_size} is not among {self.sizes}",
                               "default_size")

    def candidate(self, name: str) -> Candidate:
        for cand in self.candidates:
            if cand.name == name:
                return cand
        raise GradlabError(f"candidate must be one of {', '.join(self.candidate_names)} for "
                           f"problem {self.name!r} (got {name!r})", "candidate")

    @property
    def candidate_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.candidates)

    def of_kind(self, kind: str) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.kind == kind)

    def inputs(self, size: int | None = None, seed: int = 0) -> dict:
        """verify's ``inputs`` at ``size`` (default ``default_size``)."""
        size = self.default_size if size is None else size
        positive_int("size", size)
        return self.draw(size, seed)

    def verify(self, candidate: str = "correct", size: int | None = None,
               dtypes=None, seed: int = 0, limits=None):
        """``gradlab.verify`` of candidate ``candidate`` against the reference at
        ``size``; a planted mistake passes its exact mathematics along."""
        cand = self.candidate(candidate)
        return verify(cand.fn, self.reference, self.inputs(size, seed),
                      DEFAULT_DTYPES if dtypes is None else dtypes, seed,
                      mistake=cand.mistake, limits=limits,
                      names=(f"{self.name} {cand.name}", f"{self.name} reference"))


def hand_written(fn: Callable, description: str) -> Candidate:
    """The correct hand-written backward."""
    return Candidate("correct", "correct", description, fn)


def kernel(fn: Callable, description: str) -> Candidate:
    """A kernel of torch's own, nobody here wrote its backward."""
    return Candidate("torch", "kernel", description, fn)


def derivation_mistake(name: str, description: str, fn: Callable, right: Callable
                       ) -> Candidate:
    """A derivation mistake in ``fn``; ``right`` is the same backward as derived.
    The mistake's mathematics does not depend on the dtype."""
    return Candidate(name, "mistake", description, fn, Mistake(lambda dtype: fn, right))


def planted_bugs(fn: Callable, entry_input: str, index: int = 0) -> tuple[Candidate, ...]:
    """The pattern bug and the single-entry bug (``planted``) in front of ``fn``."""
    pattern = Candidate(
        "pattern", "mistake",
        f"every gradient scaled by (1 + {planted.K_PATTERN}·u): {planted.K_PATTERN} u normwise",
        planted.pattern(fn),
        Mistake(lambda dtype: planted.pattern(fn, u=dtype_info(dtype).u), fn))
    entry = Candidate(
        "single-entry", "mistake",
        f"the largest entry of ∂{entry_input} moved by {planted.K_ENTRY}·u·max|∂{entry_input}|",
        planted.single_entry(fn, index),
        Mistake(lambda dtype: planted.single_entry(fn, index, u=dtype_info(dtype).u), fn))
    return pattern, entry
