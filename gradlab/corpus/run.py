"""Running corpus entries through ``gradlab.verify`` into one frame, serially or on
Dask (the sweep engine's clusters: gradlab/sweep/cluster.py).

Each (entry, seed) becomes ``verify(entry.candidate, entry.reference,
entry.inputs, dtypes, seed)``'s rows, with the corpus columns first (``entry``,
``op``, ``family``, ``sample``, ``reference_kind``, ``entry_seed``) and the
entry's ``note`` and ``worker`` last; each Skipped becomes one row with status
``skipped`` and its reason as the evidence (its dtype when the reason is one
dtype's). Every row carries the provenance. An entry whose verify call raises
(GradlabError: the reference raises, a bad input; or anything else) becomes one
``error`` row per dtype with the message: never a traceback, and the other
entries' rows are kept.

On Dask, closures are not pickled: a task carries (family, op, entry name,
seed, dtypes) and the worker rebuilds the op's entries (``rebuild``; the samples
are drawn under ``torch.manual_seed(seed)`` per op, so they are the same).
"""

from __future__ import annotations

import contextlib
import functools
import queue
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.provenance import provenance
from gradlab.corpus.entry import Entry, Skipped
from gradlab.verification.calls import first_line
from gradlab.verification.report import COLUMNS as VERIFY_COLUMNS
from gradlab.verification.report import empty_row

if TYPE_CHECKING:
    import pandas as pd

    from gradlab.sweep.executor import Executor

__all__ = ["COLUMNS", "CORPUS_COLUMNS", "Job", "rebuild", "run_corpus", "run_job",
           "skipped_row"]

#: The corpus columns, before verify's (gradlab/verification/report.py: COLUMNS).
CORPUS_COLUMNS = ("entry", "op", "family", "sample", "reference_kind", "entry_seed")
COLUMNS = (*CORPUS_COLUMNS, *VERIFY_COLUMNS, "note", "worker")
Progress = Callable[[int, int, float], None]
Cancel = Callable[[], bool]
TICK = 0.2  # seconds between polls of cancel
HEARTBEAT = 1.0  # seconds between progress calls while no entry completes


@dataclass(frozen=True)
class Job:
    """What a worker needs to rebuild and run one entry: no closures."""

    family: str
    op: str
    name: str
    seed: int
    dtypes: tuple[str, ...]

    @classmethod
    def of(cls, entry: Entry, seed: int, dtypes: Sequence[str] | None = None) -> Job:
        wanted = tuple(d for d in entry.dtypes if dtypes is None or d in dtypes)
        return cls(entry.family, op_of(entry), entry.name, seed, wanted)


def op_of(entry: Entry) -> str:
    """The op an entry checks: its first tag, else its name before '#'."""
    return entry.tags[0] if entry.tags else entry.name.partition("#")[0]


def sample_of(name: str) -> int:
    """The sample index after '#' in an entry's name, else -1."""
    _, _, tail = name.rpartition("#")
    return int(tail) if tail.isdigit() else -1


@functools.lru_cache(maxsize=64)
def _built(family: str, op: str, seed: int) -> dict[str, Entry]:
    if family == "opinfo":
        from gradlab.corpus.opinfo import opinfo_entries

        entries, _ = opinfo_entries(seed, [op])
    else:
        from gradlab.corpus.kernels import kernel_entries

        entries = kernel_entries(seed)
    return {e.name: e for e in entries}


def rebuild(job: Job) -> Entry:
    """The entry ``job`` names, built again here (a GradlabError if it is gone)."""
    entry = _built(job.family, job.op, job.seed).get(job.name)
    if entry is None:
        raise GradlabError(f"entry {job.name!r} ({job.family}, seed {job.seed}) could not be "
                           "built again on this worker")
    return entry


def _corpus_columns(entry_name: str, op: str, family: str, kind: str, seed: int) -> dict:
    return {"entry": entry_name, "op": op, "family": family, "sample": sample_of(entry_name),
            "reference_kind": kind, "entry_seed": seed}


def entry_rows(entry: Entry, seed: int, dtypes: tuple[str, ...], stamp: dict) -> list[dict]:
    """verify's rows of one entry with the corpus columns; error rows if it raises."""
    from gradlab.verification.run import verify

    head = _corpus_columns(entry.name, op_of(entry), entry.family, entry.reference_kind, seed)
    if not dtypes:
        return []
    try:
        rows = list(verify(entry.candidate, entry.reference, entry.inputs, dtypes, seed,
                           names=(f"{op_of(entry)} (the op)",
                                  f"{entry.reference_kind} reference")).rows)
    except GradlabError as exc:
        rows = _error_rows(dtypes, f"error: {exc}")
    except Exception as exc:  # noqa: BLE001 (one entry's failure is its rows)
        rows = _error_rows(dtypes, f"error: verify raised {first_line(exc)}")
    out = []
    for row in rows:
        full = {**head, **row, "note": entry.note}
        full.update(stamp)
        full.setdefault("seed", seed)
        out.append(full)
    return out


def _error_rows(dtypes, message: str) -> list[dict]:
    rows = []
    for dtype in dtypes:
        row = empty_row()
        row.update(dtype=dtype, status="error", evidence=message, seed=-1)
        rows.append(row)
    return rows


def skipped_row(skip: Skipped, seed: int, stamp: dict) -> dict:
    """One row for a Skipped: status ``skipped``, the reason as evidence, and the
    dtype when the reason is one dtype's ("bfloat16: …")."""
    row = {**_corpus_columns(skip.name, skip.name.partition("#")[0], skip.family, "", seed),
           **empty_row(), "note": ""}
    head = skip.reason.partition(":")[0]
    row.update(status="skipped", evidence=skip.reason, seed=seed,
               dtype=head if head in DTYPE_NAMES else "")
    row.update(stamp)
    return row


def run_job(job: Job, threads: int = 0) -> list[dict]:
    """On a worker (or here): the job's entry rebuilt and verified, with this
    process's provenance; ``threads`` > 0 sets torch's threads first."""
    if threads:
        torch.set_num_threads(threads)
    where = None
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        where = get_worker().address
    stamp = provenance("cpu", where)
    try:
        entry = rebuild(job)
    except Exception as exc:  # noqa: BLE001 (an entry that cannot be rebuilt: its rows)
        message = str(exc) if isinstance(exc, GradlabError) else first_line(exc)
        return [{**_corpus_columns(job.name, job.op, job.family, "", job.seed), **row,
                 "note": "", **stamp} for row in _error_rows(job.dtypes, f"error: {message}")]
    return entry_rows(entry, job.seed, job.dtypes, stamp)


def run_corpus(items: Sequence[tuple[Entry, int]], skipped: Sequence[tuple[Skipped, int]] = (),
               dtypes: Sequence[str] | None = None, executor: Executor | None = None,
               progress: Progress | None = None, cancel: Cancel | None = None
               ) -> pd.DataFrame:
    """The rows of every (entry, seed) in ``items`` (each in its dtypes among
    ``dtypes``, all of them for None) and of every (skip, seed), as one frame with
    ``COLUMNS``, in the order given. ``executor``: serial by default, or a local
    Dask cluster / running scheduler (gradlab/sweep/executor.py). ``progress(done,
    total, elapsed)`` as entries complete; ``cancel()`` polled between entries
    (serial) or while waiting (Dask): the rows so far come back, and
    ``frame.attrs["complete"]`` is False."""
    import pandas as pd

    from gradlab.sweep.executor import Executor

    executor = executor or Executor()
    executor.check()
    wanted = None if dtypes is None else tuple(dtypes)
    jobs = [Job.of(entry, seed, wanted) for entry, seed in items]
    if executor.serial:
        done = _run_serial(items, jobs, progress, cancel)
    else:
        done = _run_dask(jobs, executor, progress, cancel)
    stamp = provenance("cpu")
    rows = [row for index in sorted(done) for row in done[index]]
    rows += [skipped_row(skip, seed, stamp) for skip, seed in skipped
             if wanted is None or skip.reason.partition(":")[0] not in DTYPE_NAMES
             or skip.reason.partition(":")[0] in wanted]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs["complete"] = len(done) == len(jobs)
    return frame


def _run_serial(items, jobs: list[Job], progress, cancel) -> dict[int, list[dict]]:
    done: dict[int, list[dict]] = {}
    stamp = provenance("cpu")
    start = time.perf_counter()
    for index, ((entry, seed), job) in enumerate(zip(items, jobs)):
        if cancel is not None and cancel():
            break
        done[index] = entry_rows(entry, seed, job.dtypes, stamp)
        if progress is not None:
            progress(index + 1, len(jobs), time.perf_counter() - start)
    return done


def _run_dask(jobs: list[Job], executor: Executor, progress, cancel) -> dict[int, list[dict]]:
    """Each job on the cluster, one task each; the rows by job index."""
    from gradlab.sweep.cluster import connect, without_gradlab
    from gradlab.sweep.runner import reason

    with connect(executor) as client:
        try:
            missing = without_gradlab(client)
        except Exception as exc:  # noqa: BLE001 (the scheduler went away: say so)
            raise GradlabError(f"{executor.describe()}: {reason(exc)}") from None
        if missing:
            raise GradlabError(f"{' and '.join(missing)} cannot import gradlab; install this "
                               "gradlab there or set PYTHONPATH to this checkout")
        threads = executor.threads_per_worker() if executor.workers else 0
        run = f"gradlab-ops-{uuid.uuid4().hex[:12]}"
        futures = {client.submit(run_job, job, threads, key=f"{run}-{i}", pure=False): i
                   for i, job in enumerate(jobs)}
        try:
            return _collect(futures, jobs, progress, cancel)
        finally:
            waiting = [f for f in futures if f.status == "pending"]
            if waiting:
                with contextlib.suppress(Exception):
                    client.cancel(waiting, force=True)


def _collect(futures: dict, jobs: list[Job], progress, cancel) -> dict[int, list[dict]]:
    from gradlab.sweep.runner import reason

    arrived: queue.Queue = queue.Queue()
    for future in futures:
        future.add_done_callback(arrived.put)
    pending = dict(futures)
    done: dict[int, list[dict]] = {}
    start = last = time.perf_counter()
    while pending:
        if cancel is not None and cancel():
            break
        try:
            future = arrived.get(timeout=TICK)
        except queue.Empty:
            future = None
        now = time.perf_counter()
        if future is not None and future in pending:
            index = pending.pop(future)
            try:
                done[index] = future.result(timeout=60)
            except Exception as exc:  # noqa: BLE001 (a task that failed: its error rows)
                job = jobs[index]
                stamp = provenance("cpu")
                done[index] = [{**_corpus_columns(job.name, job.op, job.family, "", job.seed),
                                **row, "note": "", **stamp}
                               for row in _error_rows(job.dtypes, f"error: {reason(exc)}")]
        if progress is not None and (future is not None or now - last >= HEARTBEAT):
            last = now
            progress(len(done), len(jobs), now - start)
    return done
