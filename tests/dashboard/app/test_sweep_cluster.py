"""The Sweep page on a Dask cluster: GRADLAB_DASK_SCHEDULER (ui.run_sweep_with_progress)."""

from __future__ import annotations

import logging
import socket

import pytest
from apptest_helpers import assert_clean, page
from distributed import LocalCluster

import gradlab.sweep.cluster as cluster
from gradlab.sweep.executor import ENV_SCHEDULER
from gradlab.sweep.runner import clear_cache

#: The page's small grid (see test_sweep_page.py), run from a shared URL.
SMALL = {"dims": "2..8", "seeds": "0", "dtypes": "float32,float16", "run": "1"}


@pytest.fixture(scope="module")
def scheduler():
    """A real Dask scheduler on 127.0.0.1 with one in-process worker (two threads)."""
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as local:
        yield local.scheduler_address


def opened(monkeypatch, address: str):
    clear_cache()
    monkeypatch.setenv(ENV_SCHEDULER, address)
    at = page("sweep")
    at.query_params.update(SMALL)
    return at.run()


def test_the_page_runs_its_sweep_on_the_cluster(monkeypatch, scheduler):
    at = opened(monkeypatch, scheduler)
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == 18
    workers = set(table["worker"])
    assert len(workers) == 1 and workers.pop().startswith("tcp://127.0.0.1:")


def test_a_malformed_scheduler_variable_is_an_error_naming_it(monkeypatch):
    at = opened(monkeypatch, "not-an-address")
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"{ENV_SCHEDULER} must be a Dask scheduler address such as tcp://127.0.0.1:8786, "
        "port 1–65535 (got 'not-an-address')"]


def test_an_unreachable_scheduler_is_an_error_not_a_traceback(monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there
    at = opened(monkeypatch, address)
    assert not at.exception
    assert len(at.error) == 1
    assert at.error[0].value.startswith(f"scheduler {address}: could not connect within 1 s")
