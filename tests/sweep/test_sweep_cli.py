"""``python -m gradlab sweep``: comma lists, the CSV, the progress bar, bad flags."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from gradlab.cli.main import build_parser, main
from gradlab.cli.sweep import sweep_from_args
from gradlab.sweep.export import read_csv_bytes
from gradlab.sweep.grid import Sweep

ROOT = Path(__file__).resolve().parents[2]


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def test_the_cli_writes_a_csv_that_pandas_reads_back(tmp_path):
    out = tmp_path / "sweep.csv"
    done = subprocess.run(
        [sys.executable, "-m", "gradlab", "sweep", "--dims", "2,4", "--dtype",
         "float32,bfloat16", "--eps", "0,1e-5", "--seed", "0,1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    frame = pd.read_csv(out)
    assert len(frame) == 16
    assert set(frame["dtype"]) == {"float32", "bfloat16"} and set(frame["m"]) == {2, 4}
    assert set(frame["eps"]) == {0.0, 1e-5} and (frame["m"] == frame["n"]).all()
    assert len(read_csv_bytes(out.read_bytes())) == 16
    assert "16/16" in done.stderr  # tqdm's count on stderr
    assert "16 points in" in done.stderr and str(out) in done.stderr
    # the verdicts counted (the default methods: autograd and structured; kron not asked)
    counts = (frame["structured_status"].value_counts())
    line = next(l for l in done.stderr.splitlines() if l.startswith("gradlab: verdicts: "))
    assert line == "gradlab: verdicts: structured " + ", ".join(
        f"{n} {status}" for status, n in counts.items()), line
    assert (frame["kron_status"] == "not-asked").all() and "kron" not in line
    assert (frame["kron_verdict"] == "not among the methods asked for").all()


def test_without_out_the_csv_goes_to_stdout_and_the_bar_to_stderr(capsysbinary):
    rc = run_main(["sweep", "--m", "2,3", "--n", "5", "--dtype", "float16", "--seed", "4",
                   "--eps", "0", "--method", "all"])
    captured = capsysbinary.readouterr()
    assert rc == 0
    frame = pd.read_csv(io.BytesIO(captured.out))
    assert list(zip(frame["m"], frame["n"])) == [(2, 5), (3, 5)]
    assert (frame["seed"] == 4).all() and (frame["kron_status"] == "pass").all()
    err = captured.err.decode()
    assert "2/2" in err and "<" in err  # the count and the [elapsed<remaining] ETA


@pytest.mark.parametrize("argv, field, value", [
    (["--m", "2,64", "--n", "3,64"], "m", (2, 64)),
    (["--m", "2,64", "--n", "3,64"], "dims", ()),
    (["--dims", "2,4,8"], "dims", (2, 4, 8)),
    (["--dims", "2..64"], "dims", (2, 4, 8, 16, 32, 64)),
    (["--dims", "2 4;8"], "dims", (2, 4, 8)),
    (["--m", "2..8", "--n", "3"], "m", (2, 4, 8)),
    (["--batch", "1e3"], "batch", (1000,)),
    (["--dtype", "float32, float64"], "dtypes", ("float32", "float64")),
    (["--dtype", "all"], "dtypes", ("float64", "float32", "bfloat16", "float16")),
    (["--eps", "0,1e-5"], "eps", (0.0, 1e-5)),
    (["--eps-placement", "all"], "placements", ("inside", "outside")),
    (["--scale", "1,1e-3"], "scales", (1.0, 1e-3)),
    (["--seed", "0,1,2"], "seeds", (0, 1, 2)),
    (["--batch", "1,4"], "batch", (1, 4)),
    (["--variant", "none,wrong-mean"], "variants", ("none", "wrong-mean")),
    (["--method", "all"], "methods", ("autograd", "structured", "kron")),
    ([], "dims", Sweep.default().dims),
], ids=["m", "m-clears-dims", "dims", "dims-range", "dims-spaces", "m-range", "batch-1e3",
        "dtype", "dtype-all", "eps", "placement-all", "scale",
        "seed", "batch", "variant", "method-all", "default"])
def test_flags_take_comma_lists(argv, field, value):
    args = build_parser().parse_args(["sweep", *argv])
    assert getattr(sweep_from_args(args), field) == value


BAD = {
    "unknown-flag": (["--bogus"], "unrecognized arguments: --bogus"),
    "not-an-int": (["--dims", "2,x"], "--dims: 'x' is not an integer"),
    "fraction": (["--dims", "2.5"], "--dims: '2.5' is not an integer"),
    "backwards-range": (["--dims", "64..2"], "--dims: a range a..b needs 1 ≤ a ≤ b"),
    "empty-item": (["--seed", "0,,1"], "--seed: an empty item in '0,,1'"),
    "empty": (["--eps", ""], "--eps needs at least one value"),
    "not-a-number": (["--eps", "small"], "--eps: 'small' is not a number"),
    "unknown-dtype": (["--dtype", "float8"], "--dtype: each must be one of float64"),
    "negative-eps": (["--eps=-1e-5"], "--eps: each must be ≥ 0"),
    "zero-dim": (["--dims", "0,2"], "--dims: each must be ≥ 1"),
    "repeated": (["--seed", "1,1"], "--seed repeats 1"),
    "bad-placement": (["--eps-placement", "sideways"], "--eps-placement: each must be one of"),
    "bad-variant": (["--variant", "bogus"], "--variant: each must be one of none"),
    "bad-method": (["--method", "magic"], "--method: each must be one of autograd"),
    "m-without-n": (["--m", "2"], "--m and --n go together"),
    "dims-and-m": (["--dims", "2", "--m", "2", "--n", "3"], "give either --dims or --m"),
    "over-max-points": (["--dims", "2,4", "--max-points", "10"],
                        "72 points, over the limit of 10 points"),
    "too-big": (["--dims", "1000000"], "over the memory budget"),
    "bad-device": (["--device", "tpu"], "--device must be cpu or cuda"),
    "bad-kron-budget": (["--kron-budget-mib=-1"], "--kron-budget-mib must be a finite number > 0"),
    "inf-kron-budget": (["--kron-budget-mib", "inf"], "--kron-budget-mib must be a finite"),
    "huge-kron-budget": (["--kron-budget-mib", "1e300"], "--kron-budget-mib must be ≤ 8,796"),
    "zero-max-points": (["--max-points", "0"], "--max-points must be a finite number > 0"),
    "fraction-max-points": (["--max-points", "2.5"], "--max-points must be a whole number"),
    "out-folder-missing": (["--dims", "2", "--out", "/nonexistent/dir/x.csv"],
                           "the folder /nonexistent/dir does not exist"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_flag_exits_2_with_one_clear_line(capsys, case):
    argv, phrase = BAD[case]
    assert run_main(["sweep", "--no-progress", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradlab: error: ")
    assert phrase in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_device_cuda_is_refused_clearly_without_a_gpu(capsys):
    assert run_main(["sweep", "--dims", "2", "--device", "cuda"]) == 2
    assert "--device cuda: no CUDA GPU is available" in capsys.readouterr().err


def test_a_dry_run_says_how_big_and_runs_nothing(capsys):
    assert run_main(["sweep", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("432 points; the largest (m=4096, n=4096, batch=1, float64)")


def test_a_caught_bug_zoo_mistake_exits_0_and_the_csv_holds_it(tmp_path, capsys):
    """A variant's ``fail`` is the mistake caught: the run succeeded."""
    out = tmp_path / "s.csv"
    code = main(["sweep", "--dims", "4", "--dtype", "float32", "--eps", "0", "--seed", "0",
                 "--variant", "none,no-projection", "--out", str(out), "--no-progress"])
    frame = pd.read_csv(out, keep_default_na=False)
    assert code == 0
    assert set(frame[frame["variant"] == "no-projection"]["structured_status"]) == {"fail"}
    assert set(frame[frame["variant"] == "none"]["structured_status"]) == {"pass"}


def test_a_failing_correct_derivation_exits_1_after_writing_the_csv(tmp_path, capsys,
                                                                    monkeypatch):
    """A correct derivation's ``fail`` (a false alarm, or a broken method) exits 1,
    and the CSV is still written, with a line saying how many."""
    import gradlab.sweep.runner as runner

    real = runner.run_sweep

    def broken(*args, **kwargs):
        frame = real(*args, **kwargs)
        frame.loc[frame["variant"] == "none", "structured_status"] = "fail"
        return frame

    monkeypatch.setattr(runner, "run_sweep", broken)
    out = tmp_path / "s.csv"
    code = main(["sweep", "--dims", "2,4", "--dtype", "float32", "--eps", "0", "--seed", "0",
                 "--variant", "none,no-projection", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 verdicts of the correct derivation (variant none) are 'fail'" in err
    assert len(pd.read_csv(out)) == 4
