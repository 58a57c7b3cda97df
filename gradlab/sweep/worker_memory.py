"""Imported by the fork server that a local cluster's workers are forked from
(``forkserver.PRELOAD``, first): it calls ``memory.keep_freed_memory`` there, before
the server forks any worker, so every worker inherits glibc's settings before any of
its threads has allocated. A Dask worker runs its units in a thread of its own, which
would otherwise have an arena of its own, where m = n = 4096's arrays were each a
fresh mmap: a unit ran in 3.7 s there against 2.8 s (docs/benchmarks.md, "The
default sweep against the naive loop")."""

from gradlab.core.memory import keep_freed_memory

__all__ = ["KEPT"]

#: Whether glibc took the settings (False off glibc).
KEPT = keep_freed_memory()
