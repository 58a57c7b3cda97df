"""Where a number came from: versions, device, threads, where it ran, time."""

from __future__ import annotations

import datetime
import platform
import socket

import torch

from gradlab._version import __version__


def provenance(device: str = "cpu", worker: str | None = None) -> dict:
    """This process's versions and torch threads; ``worker``: where it ran (a Dask
    worker's address), this host's name by default."""
    return {
        "gradlab_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "threads": torch.get_num_threads(),
        "worker": worker or socket.gethostname(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
