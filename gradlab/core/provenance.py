"""Where a number came from: versions, device, threads, time."""

from __future__ import annotations

import datetime
import platform

import torch

from gradlab import __version__


def provenance(device: str = "cpu") -> dict:
    return {
        "gradlab_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "threads": torch.get_num_threads(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
