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
from gradlab.corpus.run import COLUMNS, run_corpus
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
