"""Imported by the fork server that a local cluster's workers are forked from
(``forkserver.PRELOAD``, first), before it imports numpy or torch, to set the workers'
memory up:

- it calls ``memory.keep_freed_memory`` there, before the server forks any worker, so
  every worker inherits glibc's settings before any of its threads has allocated. A
  Dask worker runs its units in a thread of its own, which would otherwise have an
  arena of its own, where m = n = 4096's arrays were each a fresh mmap: a unit ran in
  3.7 s there against 2.8 s (docs/benchmarks.md, "The default sweep against the naive
  loop");
- it turns numpy's transparent huge pages off for the workers (the environment's
  ``NUMPY_MADVISE_HUGEPAGE`` wins where it is set). A worker runs a few units and ends,
  and most of its first unit's extra time is its first touches of memory, which huge
  pages slow where the kernel must compact memory for them; kept, the pages are
  reused by every later unit. The default sweep on two workers took 5.13 s against
  5.46 s with them (medians of 6 alternating runs; docs/benchmarks.md, "Figures behind
  the code"). The calling process keeps numpy's default: a serial sweep without them
  was within the noise (5.87 against 6.04 s), and the seed check's steady state is
  faster with them.
"""

import os

from gradlab.core.memory import keep_freed_memory

__all__ = ["HUGE_PAGES", "KEPT"]

#: numpy reads this when it is imported, after this module in the fork server.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
#: Whether the workers' numpy asks for huge pages ("0": no).
HUGE_PAGES = os.environ["NUMPY_MADVISE_HUGEPAGE"]
#: Whether glibc took the settings (False off glibc).
KEPT = keep_freed_memory()
