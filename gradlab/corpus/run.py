"""Running the corpus through ``gradlab.verify`` into one frame, serially or on Dask (the
sweep engine's clusters: gradlab/sweep/cluster.py).

Each (entry, seed) becomes ``verify(entry.candidate, entry.reference, entry.inputs,
dtypes, seed)``'s rows, with the corpus columns first (``entry``, ``op``, ``family``,
``sample``, ``reference_kind``, ``entry_seed``), then verify's (ending with the
provenance, ``worker`` among it) and the entry's ``note``; each Skipped becomes one row
with status ``skipped`` and its reason as the evidence (its dtype when the reason is one
dtype's). Every row carries the provenance. An entry whose verify call raises
(GradlabError: the reference raises, a bad input; or anything else) becomes one
``error`` row per dtype with the message: never a traceback, and the other entries' rows
are kept.

``run_ops`` runs the corpus by op: a Job is one op at one seed, and whoever runs it
(this process, or a Dask worker: closures are not pickled) builds that op's entries
itself (``build.op_corpus``; the samples are drawn under ``torch.manual_seed(seed)`` per
op, so they are the same anywhere) and verifies them. ``run_corpus`` runs entries built
here (the test slice, a hand-made entry).
"""

from __future__ import annotations

import contextlib
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

__all__ = ["COLUMNS", "CORPUS_COLUMNS", "entry_rows", "Job", "jobs_for", "op_of", "run_corpus",
           "run_job", "run_ops", "sample_of", "skipped_row"]

#: The corpus columns, before verify's (gradlab/verification/report.py: COLUMNS).
CORPUS_COLUMNS = ("entry", "op", "family", "sample", "reference_kind", "entry_seed")
COLUMNS = (*CORPUS_COLUMNS, *VERIFY_COLUMNS, "note")  # verify's end with the provenance
Progress = Callable[[int, int, float], None]
Cancel = Callable[[], bool]
Rows = tuple[list[dict], list[dict]]  # (the entries' rows, the skips' rows)


@dataclass(frozen=True)
class Job:
    """One op of the corpus (an OpInfo's full name or "kernel.<name>") at one seed,
    in ``dtypes`` (None: every dtype of each entry): no closures, so it travels."""

    op: str
    seed: int
    dtypes: tuple[str, ...] | None = None


def jobs_for(names: Sequence[str] | None, seeds: Sequence[int],
             dtypes: Sequence[str] | None = None) -> list[Job]:
    """A Job per op that ``names`` selects (all: None) per seed, seed by seed."""
    from gradlab.corpus.build import op_names

    ops = op_names(names)
    wanted = None if dtypes is None else tuple(dtypes)
    return [Job(op, seed, wanted) for seed in seeds for op in ops]


def op_of(entry: Entry) -> str:
    """The op an entry checks: its first tag, else its name before '#'."""
    return entry.tags[0] if entry.tags else entry.name.partition("#")[0]


def sample_of(name: str) -> int:
    """The sample index after '#' in an entry's name, else -1."""
    _, _, tail = name.rpartition("#")
    return int(tail) if tail.isdigit() else -1


def _in(entry: Entry, dtypes: tuple[str, ...] | None) -> tuple[str, ...]:
    """The entry's dtypes among ``dtypes`` (all of them for None)."""
    return tuple(d for d in entry.dtypes if dtypes is None or d in dtypes)


def _keeps(skip: Skipped, dtypes: tuple[str, ...] | None) -> bool:
    """Whether a skip belongs in a run of ``dtypes``: a skip of one dtype only there."""
    head = skip.reason.partition(":")[0]
    return dtypes is None or head not in DTYPE_NAMES or head in dtypes


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


def run_job(job: Job, threads: int = 0) -> Rows:
    """Here or on a worker: the job's op built and verified, with this process's
    provenance; ``threads`` > 0 sets torch's threads first. An op that cannot be
    built is one error row per dtype."""
    from gradlab.corpus.build import op_corpus

    if threads:
        torch.set_num_threads(threads)
    where = None
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        where = get_worker().address
    stamp = provenance("cpu", where)
    try:
        entries, skipped = op_corpus(job.op, job.seed)
    except Exception as exc:  # noqa: BLE001 (an op that cannot be built: its rows)
        message = str(exc) if isinstance(exc, GradlabError) else first_line(exc)
        return _job_error(job, f"error: building {job.op} raised {message}", stamp), []
    rows = [row for e in entries for row in entry_rows(e, job.seed, _in(e, job.dtypes), stamp)]
    return rows, [skipped_row(s, job.seed, stamp) for s in skipped if _keeps(s, job.dtypes)]


def _job_error(job: Job, message: str, stamp: dict) -> list[dict]:
    head = _corpus_columns(job.op, job.op, "", "", job.seed)
    return [{**head, **row, "note": "", **stamp}
            for row in _error_rows(job.dtypes or DTYPE_NAMES, message)]


def run_corpus(items: Sequence[tuple[Entry, int]], skipped: Sequence[tuple[Skipped, int]] = (),
               dtypes: Sequence[str] | None = None, progress: Progress | None = None,
               cancel: Cancel | None = None) -> pd.DataFrame:
    """The rows of every (entry, seed) in ``items``, built here (each in its dtypes
    among ``dtypes``, all of them for None), and of every (skip, seed), as one frame
    with ``COLUMNS``, in this process. ``progress(done, total, elapsed)`` after each
    entry; ``cancel()`` polled between entries: the rows so far come back, and
    ``frame.attrs["complete"]`` is False."""
    wanted = None if dtypes is None else tuple(dtypes)
    stamp = provenance("cpu")
    done: dict[int, Rows] = {}
    start = time.perf_counter()
    for index, (entry, seed) in enumerate(items):
        if cancel is not None and cancel():
            break
        done[index] = entry_rows(entry, seed, _in(entry, wanted), stamp), []
        if progress is not None:
            progress(index + 1, len(items), time.perf_counter() - start)
    skips = [skipped_row(skip, seed, stamp) for skip, seed in skipped if _keeps(skip, wanted)]
    return _frame(done, len(items), skips)


def run_ops(jobs: Sequence[Job], executor: Executor | None = None,
            progress: Progress | None = None, cancel: Cancel | None = None) -> pd.DataFrame:
    """The rows of every Job (``jobs_for``) as one frame with ``COLUMNS``: each job's
    entries' rows in job order, then each job's skips. ``executor``: serial by
    default, or a local Dask cluster / running scheduler (gradlab/sweep/executor.py),
    where each job is one task. ``progress(done, total, elapsed)`` as jobs complete;
    ``cancel()`` polled between jobs (serial) or while waiting (Dask): the rows so
    far come back, and ``frame.attrs["complete"]`` is False."""
    from gradlab.sweep.executor import Executor

    executor = executor or Executor()
    executor.check()
    if executor.serial:
        done: dict[int, Rows] = {}
        start = time.perf_counter()
        for index, job in enumerate(jobs):
            if cancel is not None and cancel():
                break
            done[index] = run_job(job)
            if progress is not None:
                progress(index + 1, len(jobs), time.perf_counter() - start)
    else:
        done = _run_dask(list(jobs), executor, progress, cancel)
    return _frame(done, len(jobs))


def _frame(done: dict[int, Rows], total: int, skips: Sequence[dict] = ()) -> pd.DataFrame:
    import pandas as pd

    order = sorted(done)
    rows = [row for index in order for row in done[index][0]]
    rows += [row for index in order for row in done[index][1]] + list(skips)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs["complete"] = len(done) == total
    return frame


def _run_dask(jobs: list[Job], executor: Executor, progress, cancel) -> dict[int, Rows]:
    """Each job on the cluster, one task each; the rows by job index (the sweep's
    collector: a task that fails becomes error rows, one whose worker died runs
    again, with no worker left the jobs still waiting become error rows, and on the
    way out those still waiting are cancelled)."""
    from gradlab.sweep.cluster import collect, connect, without_gradlab
    from gradlab.sweep.points import reason

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
        return collect(client, futures, len(jobs),
                       failed=lambda i, why: (_job_error(jobs[i], f"error: {why}",
                                                         provenance("cpu")), []),
                       size=lambda rows: 1, progress=progress, cancel=cancel,
                       executor=executor)
