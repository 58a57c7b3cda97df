"""Where a number came from: versions, device, threads, where it ran, time.

``PROVENANCE_COLUMNS`` declares these columns once, with their meanings, for every
table gradlab writes (a sweep's CSV, verify's report, the op corpus).
"""

from __future__ import annotations

import datetime
import platform
import socket
from typing import NamedTuple

import torch

from gradlab._version import __version__

__all__ = ["Column", "PROVENANCE_COLUMNS", "provenance"]


class Column(NamedTuple):
    """How a table declares a column: ``kind`` (int, float or str), ``unit`` and
    ``meaning``."""

    kind: str
    unit: str
    meaning: str


#: The provenance columns, in order: each row's are those of the process that
#: computed it (on Dask, its worker's).
PROVENANCE_COLUMNS: dict[str, Column] = {
    "gradlab_version": Column("str", "—", "gradlab's version where the row was computed"),
    "torch_version": Column("str", "—", "torch's version where the row was computed: "
                                        "workers with different versions show here (and "
                                        "the CLI warns)"),
    "python_version": Column("str", "—", "Python's version where the row was computed"),
    "device": Column("str", "—", "where the computation ran: cpu or cuda (the float64 "
                                 "reference is on the CPU)"),
    "threads": Column("int", "count", "torch's CPU threads where the row was computed"),
    "worker": Column("str", "—", "where the row was computed: the Dask worker's address, "
                                 "or the host's name for a serial run"),
    "timestamp": Column("str", "ISO 8601, UTC", "when the run started"),
}


def provenance(device: str = "cpu", worker: str | None = None) -> dict:
    """This process's versions and torch threads; ``worker``: where it ran (a Dask
    worker's address), this host's name by default. Its keys are
    ``PROVENANCE_COLUMNS``, in order."""
    return {
        "gradlab_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "threads": torch.get_num_threads(),
        "worker": worker or socket.gethostname(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
