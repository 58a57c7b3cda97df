"""The corpus run (one frame: verify's rows, corpus columns, skipped and error rows)
and ``python -m gradlab ops``: exit codes, error lines, the CSV. Structure only: no
verdict is asserted (the verdict is gradlab/core's)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gradlab.corpus.entry import Entry, Skipped
from gradlab.corpus.run import COLUMNS, Job, jobs_for, run_corpus, run_job, run_ops
from gradlab.sweep.export import to_csv_bytes

pytest.importorskip("expecttest")

from gradlab.corpus.opinfo import opinfo_entries  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STATUSES = {"pass", "fail", "too-coarse", "degenerate", "error", "skipped"}


def run_cli(argv, capsys) -> tuple[int, str, str]:
    from gradlab.cli.main import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("gradlab: error: ")
    return lines[0]


def test_a_serial_run_has_the_columns_a_skipped_row_and_error_rows():
    entries, skipped = opinfo_entries(0, ["nn.functional.relu"])

    def raises(x):
        raise RuntimeError("the reference is broken")

    broken = Entry("broken#0", "opinfo", torch.tanh, raises, {"input": (3, 4)},
                   ("float32", "bfloat16"), "formula", tags=("broken",))
    calls = []
    frame = run_corpus([(entries[0], 0), (broken, 0)],
                       [(s, 0) for s in skipped] + [(Skipped("nowhere", "opinfo",
                                                             "no torch._refs"), 0)],
                       dtypes=("float32", "bfloat16"),
                       progress=lambda done, total, elapsed: calls.append((done, total)))
    assert calls[-1] == (2, 2)
    assert frame.attrs["complete"]
    data = to_csv_bytes(frame)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert list(rows[0]) == list(COLUMNS)
    assert {r["status"] for r in rows} <= STATUSES
    relu = [r for r in rows if r["entry"] == entries[0].name]
    assert {r["dtype"] for r in relu} == {"float32", "bfloat16"}
    assert all(r["op"] == "nn.functional.relu" and r["reference_kind"] == entries[0].reference_kind
               and r["family"] == "opinfo" and r["sample"] == entries[0].name.split("#")[1]
               for r in relu)
    error = [r for r in rows if r["entry"] == "broken#0"]
    assert [r["status"] for r in error] == ["error", "error"]
    assert all("the reference is broken" in r["evidence"] for r in error)
    (skip,) = [r for r in rows if r["entry"] == "nowhere"]
    assert skip["status"] == "skipped" and skip["evidence"] == "no torch._refs"
    assert all(r["torch_version"] == torch.__version__ and r["timestamp"] for r in rows)


def test_jobs_are_one_per_op_and_seed_seed_by_seed():
    jobs = jobs_for(["nn.functional.relu", "kernel.blockwise_attention"], [3, 1], ["float32"])
    ops = ["nn.functional.relu", "kernel.blockwise_attention",
           "kernel.blockwise_attention.ill_conditioned"]
    assert jobs == [Job(op, seed, ("float32",)) for seed in (3, 1) for op in ops]


def test_an_op_that_cannot_be_built_is_error_rows_not_a_traceback(monkeypatch):
    import gradlab.corpus.build as build

    def broken(name, seed):
        raise RuntimeError("sample_inputs exploded")

    monkeypatch.setattr(build, "op_corpus", broken)
    rows, skips = run_job(Job("abs", 0, ("float32", "float16")))
    assert skips == [] and [r["dtype"] for r in rows] == ["float32", "float16"]
    assert all(r["status"] == "error" and r["entry"] == "abs" and
               "building abs raised RuntimeError: sample_inputs exploded" in r["evidence"]
               for r in rows)


def test_two_dask_workers_give_the_serial_rows():
    """Each job is built and verified on a worker: the same rows, bit for bit, as
    building and verifying here on one thread, as each worker runs (all but where
    and when they ran)."""
    from gradlab.sweep.executor import Executor

    jobs = jobs_for(["abs", "nn.functional.relu", "kernel.sparsemax", "exp"], [0, 1],
                    ["float32", "bfloat16"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = run_ops(jobs)
    finally:
        torch.set_num_threads(threads)
    seen = []
    dask = run_ops(jobs, Executor(workers=2),
                   progress=lambda done, total, elapsed: seen.append((done, total)))
    assert seen[-1] == (len(jobs), len(jobs)) and dask.attrs["complete"]
    where = ["timestamp", "worker", "threads"]
    assert serial.drop(columns=where).equals(dask.drop(columns=where))
    assert set(dask.loc[dask["status"] != "skipped", "worker"]) - {""}
    assert (serial["status"] == "skipped").sum() == 2  # exp, seeds 0 and 1


@pytest.mark.parametrize("argv, words", [
    (["ops", "--op", "no_such_op", "--list"], "ops --list"),
    (["ops", "--dtype", "float8"], "--dtype"),
    (["ops", "--seed", "-1", "--op", "abs"], "--seed"),
    (["ops", "--seed", "x", "--op", "abs"], "--seed"),
    (["ops", "--op", "abs", "--out", "/no/such/folder/ops.csv"], "--out"),
    (["ops", "--op", "abs", "--workers", "0"], "--workers"),
], ids=["unknown-op", "bad-dtype", "negative-seed", "bad-seed", "unwritable-out", "workers"])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys):
    code, out, err = run_cli(argv, capsys)
    assert words in one_error_line(code, err)


def test_list_names_the_reference_kind_or_the_reason(capsys):
    code, out, _ = run_cli(["ops", "--list", "--op", "nn.functional.relu,exp"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("nn.functional.relu  torch._refs") for line in lines)
    assert any(line.startswith("exp  skipped: ") for line in lines)


def test_a_small_run_writes_the_csv_and_a_summary(tmp_path, capsys):
    out = tmp_path / "ops.csv"
    code, stdout, err = run_cli(["ops", "--op", "nn.functional.relu", "--dtype", "float32",
                                 "--out", str(out), "--no-progress"], capsys)
    assert code in (0, 1), err  # 1 when a verdict fails: the verdict is not tested here
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and list(rows[0]) == list(COLUMNS)
    assert {r["dtype"] for r in rows if r["status"] != "skipped"} == {"float32"}
    assert "1 ops, 2 entries" in err and "float32" in err and "skipped" in err
    assert stdout == ""


def test_without_expecttest_the_command_names_what_to_install():
    code = ("import sys; sys.modules['expecttest'] = None\n"
            "from gradlab.cli import main\nraise SystemExit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "ops", "--op", "abs"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    line = one_error_line(proc.returncode, proc.stderr)
    assert "pip install expecttest" in line
