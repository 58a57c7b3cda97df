"""bench_sweep's A/B against Dask's defaults: the defaults run has neither of a local
cluster's settings, and they come back after; Dask's own CPU leaves the tasks out."""

from __future__ import annotations

import pytest

from bench.bench_sweep import dask_cpu, dask_defaults
from gradlab.sweep import cluster


def _settings() -> tuple[dict, dict]:
    return cluster.QUIET, cluster.SCHEDULING


def test_the_defaults_run_drops_the_local_clusters_settings_and_puts_them_back():
    kept = tuple(dict(part) for part in _settings())
    assert all(kept)
    with pytest.raises(RuntimeError), dask_defaults(True):
        assert _settings() == ({}, {})
        raise RuntimeError("the run fails")
    assert _settings() == kept
    with dask_defaults(False):
        assert _settings() == kept


def test_dasks_own_cpu_is_every_thread_but_the_tasks():
    before = {"MainThread": 1.0, "Dask-Default-Threads-7-0": 5.0}
    after = {"MainThread": 1.5, "Dask-Default-Threads-7-0": 9.0, "IO loop": 0.25}
    assert dask_cpu(before, after) == pytest.approx(0.75)
