"""The verify tests run many small torch ops. On the shared two-core machine, torch's
two-thread parallel regions spin against other processes (measured under a load
of 8: the engine's compare of 16.7M entries took 0.73 s on one thread, 7.3 s on
two), so each test here runs on one thread and restores the count after. The
statuses do not depend on it."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
