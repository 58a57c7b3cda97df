"""Where a sweep runs: serially in this process, or on Dask (a local cluster or a
running scheduler). A frozen, validated config; gradlab/sweep/cluster.py runs it.

``Executor()`` is the serial run; ``Executor(workers=N)`` starts a local Dask
cluster of N worker processes on 127.0.0.1 for the sweep and stops it after;
``Executor(scheduler="tcp://host:8786")`` sends the sweep to a running Dask
scheduler and its workers. A hosted dashboard reads the scheduler from the
environment variable GRADLAB_DASK_SCHEDULER (``Executor.from_env``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from gradlab.core.errors import GradlabError

__all__ = ["check_address", "ENV_SCHEDULER", "EXAMPLE", "Executor", "usable_cores"]

ENV_SCHEDULER = "GRADLAB_DASK_SCHEDULER"
#: Dask's address forms: [protocol://]host:port, the host a name, IPv4 or [IPv6].
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?"
                      r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
                      r":(\d{1,5})")
EXAMPLE = "tcp://127.0.0.1:8786"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_address(address: str, name: str = "scheduler") -> str:
    """``address`` if it is a Dask scheduler address, else a GradlabError naming ``name``."""
    if not isinstance(address, str):
        raise GradlabError(f"{name} must be a Dask scheduler address such as {EXAMPLE} "
                           f"(got {address!r})", name)
    text = address.strip()
    match = _ADDRESS.fullmatch(text)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise GradlabError(f"{name} must be a Dask scheduler address such as {EXAMPLE}, "
                           f"port 1–65535 (got {address!r})", name)
    return text


@dataclass(frozen=True)
class Executor:
    """Serial (the default), ``workers`` local Dask worker processes, or the Dask
    ``scheduler`` at an address; never both.

    A local cluster's workers get ``threads_per_worker()`` torch threads each:
    the usable cores shared out, so the cores are not oversubscribed. Workers
    of a running scheduler keep the threads their environment gives them
    (Dask's nanny sets OMP_NUM_THREADS=1); each row records its worker's count.
    """

    workers: int = 0
    scheduler: str = ""

    def __post_init__(self):
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) \
                or self.workers < 0:
            raise GradlabError(f"workers must be a whole number ≥ 1, or 0 for a serial run "
                               f"(got {self.workers!r})", "workers")
        if self.scheduler or not isinstance(self.scheduler, str):
            object.__setattr__(self, "scheduler", check_address(self.scheduler))
        if self.workers and self.scheduler:
            raise GradlabError("workers starts a local cluster and scheduler connects to a "
                               "running one: give one of them, not both", "workers")

    @classmethod
    def from_env(cls, environ=None) -> Executor:
        """The scheduler named by GRADLAB_DASK_SCHEDULER, or serial when it is unset
        or empty; a malformed value is a GradlabError naming the variable."""
        environ = os.environ if environ is None else environ
        text = environ.get(ENV_SCHEDULER, "").strip()
        if not text:
            return cls()
        return cls(scheduler=check_address(text, ENV_SCHEDULER))

    @property
    def serial(self) -> bool:
        return not (self.workers or self.scheduler)

    def check(self) -> None:
        """Refuse, before any work, more local workers than this machine's cores."""
        cores = usable_cores()
        if self.workers > cores:
            raise GradlabError(f"workers must be ≤ {cores}, the cores here: more worker "
                               f"processes than cores only compete for them "
                               f"(got {self.workers})", "workers")

    def threads_per_worker(self) -> int:
        """torch threads for each local worker: the usable cores shared out, ≥ 1."""
        return max(1, usable_cores() // max(1, self.workers))

    def describe(self) -> str:
        if self.workers:
            return (f"a local Dask cluster of {self.workers} worker process"
                    f"{'es' if self.workers > 1 else ''}")
        if self.scheduler:
            return f"the Dask scheduler at {self.scheduler}"
        return "serially, in this process"
