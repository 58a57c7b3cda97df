"""The whole corpus by name: torch's OpInfo ops (``opinfo``) and the hand-written
kernels (``kernels``, names starting ``kernel.``), as ``python -m gradlab ops`` runs it."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence

from gradlab.core.errors import GradlabError
from gradlab.corpus.entry import Entry, Skipped

__all__ = ["KERNEL_PREFIX", "corpus_entries", "kernel_names", "op_corpus", "op_names",
           "select"]

#: A hand-written kernel's entries are named "kernel.<name>".
KERNEL_PREFIX = "kernel."


def kernel_names() -> list[str]:
    """The hand-written kernels' entry names (without building them)."""
    from gradlab.corpus.kernels import COMPILED_LAYER_NORM, KERNELS

    return [KERNEL_PREFIX + k.name for k in KERNELS] + [KERNEL_PREFIX + COMPILED_LAYER_NORM]


def _kernels_named(names: Sequence[str]) -> list[str]:
    """Each name checked against the kernels (a bare name takes its variants)."""
    known = kernel_names()
    for name in names:
        if not any(k == name or k.startswith(name + ".") for k in known):
            near = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise GradlabError(f"op {name!r} is not a hand-written kernel of the corpus{hint} "
                               f"(the kernels: {', '.join(known)})", "op")
    return list(names)


def select(names: Sequence[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """(OpInfo names, kernel names) of ``names``; None selects all of a kind, [] none.
    An unknown name is a GradlabError, before any entry is built."""
    if names is None:
        return None, None
    from gradlab.corpus.opinfo import select_ops

    ops = [n for n in names if not n.startswith(KERNEL_PREFIX)]
    kernels = _kernels_named([n for n in names if n.startswith(KERNEL_PREFIX)])
    if ops:
        select_ops(ops)
    return ops, kernels


def corpus_entries(seed: int, names: Sequence[str] | None = None
                   ) -> tuple[list[Entry], list[Skipped]]:
    """The entries and skips of ``names`` (all: None) for ``seed``: OpInfo ops first,
    then the hand-written kernels."""
    ops, kernels = select(names)
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    if ops is None or ops:
        from gradlab.corpus.opinfo import opinfo_entries

        entries, skipped = opinfo_entries(seed, ops)
    if kernels is None or kernels:
        from gradlab.corpus.kernels import kernel_entries, kernel_skipped

        wanted = [e for e in kernel_entries(seed) if kernels is None or any(
            e.name == k or e.name.startswith(k + ".") for k in kernels)]
        entries += wanted
        skipped += [s for s in kernel_skipped() if kernels is None or any(
            s.name == k or s.name.startswith(k + ".") for k in kernels)]
    return entries, skipped


def op_names(names: Sequence[str] | None = None) -> list[str]:
    """The exact name of every op that ``names`` selects (all: None), OpInfo ops
    first (a bare name takes its variants), then the kernels: the units the corpus
    runs in (``op_corpus``)."""
    ops, kernels = select(names)
    out: list[str] = []
    if ops is None or ops:
        from gradlab.corpus.opinfo import full_name, select_ops

        out += dict.fromkeys(full_name(op) for op in select_ops(ops))
    if kernels is None or kernels:
        out += [k for k in kernel_names() if kernels is None or any(
            k == n or k.startswith(n + ".") for n in kernels)]
    return out


def op_corpus(name: str, seed: int) -> tuple[list[Entry], list[Skipped]]:
    """The entries and skips of the one op named exactly ``name`` (an OpInfo's full
    name, or "kernel.<name>") for ``seed``."""
    if name.startswith(KERNEL_PREFIX):
        from gradlab.corpus.kernels import kernel_skipped

        return ([e for e in _kernel_entries(seed) if e.name == name],
                [s for s in kernel_skipped() if s.name == name])
    from gradlab.corpus.opinfo import full_name, load_op_db, op_entries

    entries: list[Entry] = []
    skipped: list[Skipped] = []
    for op in load_op_db():
        if full_name(op) == name:
            got, skips = op_entries(op, seed)
            entries += got
            skipped += skips
    return entries, skipped


@functools.lru_cache(maxsize=8)
def _kernel_entries(seed: int) -> tuple[Entry, ...]:
    from gradlab.corpus.kernels import kernel_entries

    return tuple(kernel_entries(seed))
