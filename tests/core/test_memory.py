"""keep_freed_memory: a large array comes from glibc's heap, and its pages stay there
for the next one, until trim_freed_memory gives them back. Each case runs in a fresh
interpreter: the setting lasts for the process, and the test process keeps glibc's
defaults."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gradlab.core.memory import heap_bytes

pytestmark = pytest.mark.skipif(heap_bytes() is None, reason="mallopt and mallinfo2 are glibc's")

PROBE = """
import json, sys
import numpy as np
from gradlab.core.memory import heap_bytes, keep_freed_memory, trim_freed_memory

kept = keep_freed_memory() if sys.argv[1] == "keep" else None
big = np.ones(8 << 20)                  # 64 MiB, over any mmap threshold
mapped = heap_bytes()["mapped"]         # bytes in mmap'd chunks while it lives
del big
free_in_heap = heap_bytes()["free"]
trim_freed_memory()                     # what the dashboard does after a computation
print(json.dumps({"kept": kept, "again": keep_freed_memory() if kept else None,
                  "mapped": mapped, "free_in_heap": free_in_heap,
                  "after_trim": heap_bytes()["free"]}))
"""

MiB = 1 << 20


def probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def test_a_freed_array_stays_in_the_heap_for_the_next_one():
    kept = probe("keep")
    assert kept["kept"] is True and kept["again"] is True
    assert kept["mapped"] < MiB, kept          # served from the heap, not an mmap
    assert kept["free_in_heap"] >= 64 * MiB, kept  # freed, and still mapped
    assert kept["after_trim"] < 64 * MiB, kept     # until a trim gives it back


def test_without_it_glibc_maps_a_large_array_and_unmaps_it():
    """The control: the same probe with glibc's defaults (what the test above rules
    out would show here)."""
    plain = probe("plain")
    assert plain["mapped"] >= 64 * MiB, plain
    assert plain["free_in_heap"] < 64 * MiB, plain
