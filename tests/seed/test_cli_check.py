"""`python -m gradlab check`: the table, the JSON document and bad input."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.problems.seed.gradients import PARAMS
from gradlab.problems.seed.inputs import case_inputs

ROOT = Path(__file__).resolve().parents[2]


def run_module(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gradlab", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)


def strict_loads(text: str):
    """JSON as the standard has it: NaN and Infinity are not tokens."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def tensor(nested) -> torch.Tensor:
    return torch.tensor(nested, dtype=torch.float64)


# --------------------------------------------------------------------- table

def test_module_prints_the_notebook_table():
    """The README's main command, as a real process."""
    proc = run_module("check", "--preset", "notebook")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert "preset notebook" in out and "m=2 n=3" in out and "float32" in out
    for word in ("method", "autograd", "structured", "kron", "max|Δ| vs autograd", "verdict"):
        assert word in out
    assert "-0.0538" in out or "-0.053811" in out  # the printed gradient


def test_default_table(capsys):
    code, out, err = run_cli(["check"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert "err/u" in header and "verdict" in header
    rows = {line.split()[0]: line for line in lines if line.split()[:1] and
            line.split()[0] in ("autograd", "structured", "kron")}
    assert set(rows) == {"autograd", "structured", "kron"}
    assert rows["autograd"].rstrip().endswith("yardstick")
    assert rows["structured"].rstrip().endswith("pass")
    assert "verdict structured: rounding" in out
    assert "scale invariance" in out  # ε = 0


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_table_names_the_dtype_each_method_ran_in(dtype, capsys):
    code, out, _ = run_cli(["check", "--m", "4", "--n", "5", "--dtype", dtype], capsys)
    assert code == 0
    for method in ("autograd", "structured", "kron"):
        row = next(line for line in out.splitlines() if line.startswith(method + " "))
        assert row.split()[1] == dtype


def test_table_with_a_variant_says_bug(capsys):
    code, out, _ = run_cli(["check", "--preset", "notebook", "--eps", "1e-5",
                            "--variant", "eps-missing"], capsys)
    assert code == 1  # a verdict failed: usable in CI
    assert "variant eps-missing" in out
    assert "verdict structured: bug" in out


def test_kron_over_budget_is_skipped_with_method_all(capsys):
    code, out, err = run_cli(["check", "--m", "64", "--n", "64", "--kron-budget-mib", "0.5"],
                             capsys)
    assert code == 0 and err == ""
    assert "skipped kron:" in out and "budget" in out


# ---------------------------------------------------------------------- json

JSON_CASES = [
    pytest.param(["--preset", "notebook"], Case.notebook(), id="notebook"),
    pytest.param(["--m", "3", "--n", "4", "--batch", "2", "--dtype", "float64", "--eps", "1e-5",
                  "--eps-placement", "outside", "--seed", "7"],
                 Case(3, 4, 2, "float64", 1e-5, "outside", seed=7), id="float64-batch2-outside"),
    pytest.param(["--m", "5", "--n", "2", "--batch", "3", "--dtype", "bfloat16", "--scale",
                  "0.01", "--eps", "1e-6"],
                 Case(5, 2, 3, "bfloat16", 1e-6, scale=0.01), id="bfloat16-scale0.01"),
]


@pytest.mark.parametrize("argv, case", JSON_CASES)
def test_json_document(argv, case, capsys):
    code, out, err = run_cli(["check", "--json", *argv], capsys)
    assert code == 0 and err == ""
    doc = strict_loads(out)  # one document, and nothing else on stdout
    inputs = case_inputs(case)
    # inputs: exactly the values used, after rounding; x as batch × n
    for key, t in (("W", inputs.W), ("x", inputs.X), ("g", inputs.g), ("b", inputs.b)):
        got = tensor(doc["inputs"][key])
        assert got.shape == t.shape, key
        assert torch.equal(got, t.double()), key
    assert tensor(doc["inputs"]["x"]).shape == (case.batch, case.n)
    assert doc["inputs"]["eps"] == float(inputs.eps)

    # grads: method → param → nested lists, reference included; full precision
    check = run_check(case)
    assert set(doc["grads"]) == {"autograd", "structured", "kron", "reference"}
    for method, run in check.runs.items():
        assert set(doc["grads"][method]) == set(run.grads)
        for param, grad in run.grads.items():
            assert torch.equal(tensor(doc["grads"][method][param]), grad.double()), \
                (method, param)
    assert set(doc["grads"]["kron"]) == {"W"}
    for param in PARAMS:
        want = torch.as_tensor(check.reference.to_float64(param))
        assert torch.equal(tensor(doc["grads"]["reference"][param]), want), param

    # metrics: max|Δ|, errors and the verdict with both numbers
    metrics = doc["metrics"]
    assert metrics["max_abs_diff"] == check.max_abs_diff
    assert set(metrics["max_abs_diff"]) == {"structured", "kron"}
    for method, v in check.verdicts.items():
        got = metrics["verdict"][method]
        assert got["status"] == v.status == "pass"
        assert got["err"] == v.err and got["threshold"] == v.threshold
        assert got["err_autograd"] == v.err_autograd
    assert metrics["errors"]["structured"]["W"]["err_u"] == check.errors["structured"]["W"].err_u
    assert doc["dtypes"] == {m: case.dtype for m in ("autograd", "structured", "kron")}
    assert doc["reference_precision"] == check.reference.precision


def test_json_floats_round_trip(capsys):
    """Every float printed at full precision: dumping the parsed document again gives
    the same text, and the float32 inputs are exact."""
    code, out, _ = run_cli(["check", "--json", "--m", "6", "--n", "7", "--seed", "3"], capsys)
    doc = strict_loads(out)
    assert json.dumps(doc) == out.strip()
    W = case_inputs(Case(6, 7, seed=3)).W
    assert [[float(v) for v in row] for row in W.double().tolist()] == doc["inputs"]["W"]
    assert all(isinstance(v, float) for row in doc["grads"]["autograd"]["W"] for v in row)


def test_json_of_a_degenerate_case_is_strict(capsys):
    code, out, err = run_cli(["check", "--json", "--m", "4", "--n", "4", "--dtype", "float16",
                              "--scale", "1e-8"], capsys)
    assert code == 1 and err == ""  # degenerate is not a pass
    doc = strict_loads(out)
    assert doc["metrics"]["verdict"]["structured"]["status"] == "degenerate"
    assert doc["notes"]


@pytest.mark.parametrize("argv, expected", [
    (["--preset", "notebook"], 0),
    (["--preset", "notebook", "--eps", "1e-5", "--variant", "eps-missing"], 1),
    (["--m", "512", "--n", "512", "--dtype", "bfloat16", "--eps", "1e-5", "--seed", "1",
      "--variant", "eps-missing", "--method", "autograd,structured"], 1),
    (["--m", "1", "--n", "48", "--dtype", "float64", "--seed", "1"], 1),
    (["--m", "0"], 2),
], ids=["pass", "fail", "too-coarse", "degenerate", "bad-input"])
def test_exit_status_follows_the_test_tool_convention(argv, expected, capsys):
    """0 when every verdict passes, 1 when any does not (fail, too-coarse,
    degenerate), 2 for bad input."""
    code, _, _ = run_cli(["check", *argv], capsys)
    assert code == expected


def test_json_with_a_variant(capsys):
    code, out, _ = run_cli(["check", "--json", "--preset", "notebook", "--eps", "1e-5",
                            "--variant", "eps-missing"], capsys)
    doc = strict_loads(out)
    assert doc["variant"] == "eps-missing"
    assert doc["metrics"]["verdict"]["structured"]["status"] == "fail"
    assert 0 < doc["metrics"]["bug_effect"]["max"] < 1e-4
    assert 0 < doc["metrics"]["bug_effect"]["fro"] < 1e-4


# ----------------------------------------------------------------- bad input

#: (flag or parameter named, argv, the limit stated; None where argparse rejects the text)
BAD_FLAGS = [
    ("--m", ["--m", "0"], "≥ 1"),
    ("--m", ["--m", "-3"], "≥ 1"),
    ("--n", ["--n", "0"], "≥ 1"),
    ("--batch", ["--batch", "0"], "≥ 1"),
    ("--dtype", ["--dtype", "float8"], "one of float64, float32, bfloat16, float16"),
    ("--eps", ["--eps=-1e-5"], "≥ 0"),
    ("--eps", ["--eps", "-0.001"], "≥ 0"),
    ("--eps", ["--eps", "nan"], "finite"),
    ("--eps", ["--eps", "inf"], "finite"),
    ("--eps-placement", ["--eps-placement", "middle"], "one of inside, outside"),
    ("--scale", ["--scale", "0"], "> 0"),
    ("--scale", ["--scale", "-1"], "> 0"),
    ("--seed", ["--seed", "-1"], "≥ 0"),
    ("n=1000000", ["--m", str(10**6), "--n", str(10**6)], "budget of 4,096 MiB"),
    ("kron", ["--m", "512", "--n", "512", "--method", "kron"], "budget of 256.0 MiB"),
    ("kron", ["--m", "64", "--n", "64", "--method", "structured,kron",
              "--kron-budget-mib", "0.5"], "budget of 0.5 MiB"),
    ("--kron-budget-mib", ["--kron-budget-mib", "0"], "> 0"),
    ("--kron-budget-mib", ["--kron-budget-mib", "nan"], "> 0"),
    ("--kron-budget-mib", ["--kron-budget-mib", "inf"], "finite"),
    ("--kron-budget-mib", ["--kron-budget-mib=-inf"], "finite"),
    ("--kron-budget-mib", ["--kron-budget-mib", "1e300"], "≤ 8,796,093,022,207 MiB"),
    ("--kron-budget-mib", ["--kron-budget-mib", "lots"], "a number"),
    ("--m", ["--m", "abc"], None),
    ("--m", ["--m", "2.5"], None),
    ("--n", ["--n", ""], None),
    ("--eps", ["--eps", "small"], None),
    ("--eps", ["--eps", "-1e-5"], "≥ 0"),  # a negative in e-notation is a number, not a flag
    ("--scale", ["--scale", "1e-3x"], None),
    ("--seed", ["--seed", "one"], None),
    ("--batch", ["--batch", "1.5"], "not an integer"),
    ("--m", ["--m", "2..8"], "takes one value"),
    ("--seed", ["--seed", "1,2"], "takes one value"),
    ("--method", ["--method", "finite-diff"], "each must be one of autograd, structured, kron"),
    ("--method", ["--method", "structured,,kron"], "an empty item"),
    ("--variant", ["--variant", "no-mean"], "one of no-projection"),
    ("--preset", ["--preset", "seed"], None),
    ("--preset", ["--preset", "notebook", "--m", "5"], "fixes m=2 and n=3"),
    ("--frobnicate", ["--frobnicate"], None),
]


def _flag_id(parameter, argv, limit):
    text = " ".join(argv)
    return text if len(text) < 40 else f"{parameter}-{argv[-1]}"


@pytest.mark.parametrize("parameter, argv, limit", BAD_FLAGS,
                         ids=[_flag_id(*p) for p in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(parameter, argv, limit, capsys):
    code, out, err = run_cli(["check", *argv], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    assert line.startswith("gradlab: error: ")
    assert re.search(rf"(?<![\w-]){re.escape(parameter)}(?![\w-])", line), line
    if limit is not None:
        assert limit in line, line


def test_bad_flag_in_a_real_process_has_no_traceback():
    proc = run_module("check", "--eps", "nan")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "eps" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_command_is_one_line(capsys):
    code, out, err = run_cli([], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["1e-5", "0.00001", "1E-05"])
def test_eps_spellings(text, capsys):
    code, out, _ = run_cli(["check", "--json", "--eps", text], capsys)
    assert code == 0
    assert math.isclose(strict_loads(out)["case"]["eps"], 1e-5, rel_tol=0)
