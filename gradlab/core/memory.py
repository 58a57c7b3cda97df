"""Keeping freed memory for the next check: glibc's heap without an mmap per array.

A seed-layer check at m = n = 4096 allocates about a dozen m×n arrays (the rounded
inputs, autograd's and each method's dL/dW and their intermediates) and frees them
at its end. glibc serves each array over its mmap threshold (32 MiB at most) with a
fresh mmap: the kernel faults its 4 KiB pages in and zeroes them one at a time
(about 2.7 µs a page on this machine kind) and takes them back at the free. A sweep
paid that on every point: the default sweep ran in 17 s that way and in 12 s with
``keep_freed_memory`` (docs/benchmarks.md, "The default sweep against the naive
loop"), with the same rows bit for bit.

``keep_freed_memory`` tells glibc to serve every size from its main heap
(M_MMAP_MAX = 0), never to give the heap's top back (M_TRIM_THRESHOLD at its
largest), and to give threads no arenas of their own (M_ARENA_MAX = 1: a thread's
arena serves an array larger than its 64 MiB heaps with an mmap whatever
M_MMAP_MAX says, and a Dask worker runs its tasks in a thread). A point's arrays
then reuse the pages that the point before it faulted in. A thread that has
allocated before the call keeps its own arena, so a process should call it early:
the fork server that a local cluster's workers come from does, before it forks
them (gradlab/sweep/worker_memory.py). The process's memory stays near its peak
until it exits: right for a process that runs many checks and ends (a CLI command,
a Dask worker), not for a long-lived server. Nothing where libc is not glibc.
"""

from __future__ import annotations

import ctypes
import functools
import math
import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported in huge_empty: this module is imported before torch
    import torch

__all__ = ["heap_bytes", "huge_empty", "HUGE_PAGE", "keep_freed_memory", "M_ARENA_MAX",
           "M_MMAP_MAX", "M_TRIM_THRESHOLD", "TRIM_NEVER", "trim_freed_memory"]

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
#: The largest trim threshold mallopt takes (an int): the heap's top is never given back
#: below 2 GiB free.
TRIM_NEVER = 2**31 - 1


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc, or None where libc is something else (macOS, musl, Windows)."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


@functools.cache
def keep_freed_memory() -> bool:
    """Serve every allocation from glibc's main heap and keep freed pages mapped, for
    the rest of this process (and the processes it forks); True if it did (once per
    process: later calls return the first answer). False where libc is not glibc or
    mallopt refuses."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_NEVER)
                and libc.mallopt(M_ARENA_MAX, 1))


def trim_freed_memory() -> None:
    """Give the free pages of the process's heap back to the OS now (glibc's
    ``malloc_trim``): what a long-lived server does after a large computation, where
    ``keep_freed_memory`` is for a process that ends. Nothing off glibc."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (malloc.h), every field a size_t."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def heap_bytes() -> dict[str, int] | None:
    """glibc's count of this process's heap (``mallinfo2``), for the calling thread's
    arena: ``mapped``, the bytes in chunks served by their own mmap, and ``free``, the
    bytes freed and still held in the heap. None where libc is not glibc (or is older
    than 2.33, without mallinfo2)."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {"mapped": int(info.hblkhd), "free": int(info.fordblks)}


#: A transparent huge page: ``huge_empty`` serves an array from this size up from numpy.
HUGE_PAGE = 2 * 1024 * 1024


def huge_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor of ``shape`` and ``dtype``; from ``HUGE_PAGE`` bytes
    up, in numpy's memory.

    numpy asks the kernel for transparent huge pages for a large array (2 MiB pages),
    where glibc serves a fresh tensor of some MiB with an mmap whose 4 KiB pages fault
    in one at a time (about 2.7 µs each on this machine kind: 11 ms for the 16 MiB of a
    float32 W at m = n = 2048). A smaller array comes from glibc's heap, with no faults
    to save (``torch.empty``). Any dtype, bfloat16 included: the bytes are numpy's, the
    view torch's.
    """
    import numpy as np
    import torch

    size = math.prod(shape) * dtype.itemsize
    if size < HUGE_PAGE:
        return torch.empty(shape, dtype=dtype)
    return torch.from_numpy(np.empty(size, np.uint8)).view(dtype).view(shape)
