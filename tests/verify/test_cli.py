"""``python -m gradlab verify``: exit codes, the table, strict JSON, built-in problems,
and one clear line for every bad invocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradlab.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

USER_MODULE = '''
import torch
import torch.nn.functional as F

print("a user module that prints on import")


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return 2 * x * dy


class Half(Square):
    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return x * dy


def reference(x):
    return x * x


def ce(logits, target):
    return F.cross_entropy(logits, target)


def ce_reference(logits, target):
    lse = logits.exp().sum(-1).log()
    return (lse - logits.gather(-1, target.unsqueeze(-1)).squeeze(-1)).mean()


NOT_CALLABLE = 3
'''


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A directory holding ``usermod.py``, made the working directory."""
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken on import')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("usermod", "broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def run_module(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=str(ROOT)) | (env or {})
    return subprocess.run([sys.executable, "-m", "gradlab", "verify", *args],
                          capture_output=True, text=True, cwd=cwd, env=environ, timeout=300)


def run_cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main(["verify", *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def strict_loads(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


SQUARE = ["usermod:Square.apply", "--reference", "usermod:reference", "--input", "x=8x16"]


def test_module_exit_0_when_every_row_passes(user_dir):
    proc = run_module(user_dir, *SQUARE)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "a user module that prints on import"
    assert lines[1].startswith("gradlab verify · usermod:Square.apply against usermod:reference")
    assert "passed" in lines[2]
    for dtype in ("float32", "bfloat16", "float16"):
        assert [dtype, "x", "pass"] in [line.split()[:3] for line in lines]


def test_module_exit_1_and_json_when_a_row_fails(user_dir):
    proc = run_module(user_dir, "usermod:Half.apply", "--reference", "usermod:reference",
                      "--input", "x=8x16", "--dtype", "float32,float64", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = strict_loads(proc.stdout)   # the module's print went to stderr
    assert "prints on import" in proc.stderr
    assert doc["passed"] is False
    assert [(v["dtype"], v["input"], v["status"]) for v in doc["verdicts"]] == [
        ("float32", "x", "fail"), ("float64", "x", "fail")]
    assert doc["verdicts"][0]["taylor_rate"] == "nan"
    assert 0.9 < doc["verdicts"][1]["taylor_rate"] < 1.1
    assert set(doc["provenance"]) >= {"torch_version", "gradlab_version", "threads"}
    assert doc["inputs"] == {"x": "8x16 drawn"}


def test_module_exit_2_is_one_line(user_dir):
    proc = run_module(user_dir, "nosuchmodule:f", "--reference", "usermod:reference",
                      "--input", "x=4")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == ("gradlab: error: MODULE:CANDIDATE: cannot import 'nosuchmodule' "
                           "(ModuleNotFoundError: No module named 'nosuchmodule')\n")


def test_the_memory_budget_comes_from_the_environment(user_dir):
    proc = run_module(user_dir, *SQUARE[:-1], "x=4096x4096",
                      env={"GRADLAB_CASE_BUDGET_MIB": "16"})
    assert proc.returncode == 2
    assert "over the memory budget of 16 MiB (GRADLAB_CASE_BUDGET_MIB)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_integer_and_scalar_inputs_and_a_file_path(user_dir, capsys):
    code, out, _ = run_cli([str(user_dir / "usermod.py") + ":ce", "--reference",
                            "usermod:ce_reference", "--input", "logits=8x5", "--input",
                            "target=8:int:5", "--dtype", "float32"], capsys)
    assert code == 0, out
    assert "target int64 8" in out
    code, out, _ = run_cli(["usermod:Square.apply", "--reference", "usermod:reference",
                            "--input", "x=scalar", "--dtype", "all", "--json"], capsys)
    doc = strict_loads(out.splitlines()[-1])
    assert code == 0 and [v["shape"] for v in doc["verdicts"]] == ["scalar"] * 4


BAD = [
    pytest.param(["usermod:nothere", "--reference", "usermod:reference", "--input", "x=4"],
                 "MODULE:CANDIDATE: 'usermod' has no attribute 'nothere'", id="attribute"),
    pytest.param(["usermod:NOT_CALLABLE", "--reference", "usermod:reference", "--input", "x=4"],
                 "MODULE:CANDIDATE: usermod:NOT_CALLABLE is a int, not callable",
                 id="not-callable"),
    pytest.param(["broken:f", "--reference", "usermod:reference", "--input", "x=4"],
                 "cannot import 'broken' (RuntimeError: broken on import)", id="import-raises"),
    pytest.param(["usermod", "--reference", "usermod:reference", "--input", "x=4"],
                 "MODULE:CANDIDATE must be MODULE:NAME", id="no-colon"),
    pytest.param(["usermod:reference", "--input", "x=4"], "--reference MODULE:REFERENCE is "
                 "required", id="no-reference"),
    pytest.param(["usermod:reference", "--reference", "usermod:reference"],
                 "--input NAME=SHAPE is required", id="no-input"),
    pytest.param([*SQUARE[:-1], "x=8by16"], "--input x must be sizes joined by 'x'",
                 id="shape"),
    pytest.param([*SQUARE[:-1], "x=8x0"], "--input x must have every size ≥ 1", id="zero"),
    pytest.param([*SQUARE[:-1], "8x16"], "--input must be NAME=SHAPE", id="no-name"),
    pytest.param([*SQUARE, "--input", "x=3"], "--input names 'x' twice", id="twice"),
    pytest.param([*SQUARE[:-1], "t=8:int:0"], "HIGH of SHAPE:int:HIGH must be an integer ≥ 1",
                 id="high"),
    pytest.param([*SQUARE, "--dtype", "float8"], "--dtype: each must be one of", id="dtype"),
    pytest.param([*SQUARE, "--dtype", "float32,,"], "--dtype: an empty item", id="dtype-list"),
    pytest.param([*SQUARE, "--seed", "-1"], "--seed must be an integer in [0, 2³²)", id="seed"),
    pytest.param([], "give MODULE:CANDIDATE with --reference and --input, or --problem",
                 id="nothing"),
    pytest.param(["--problem", "nosuch"], "problem must be one of seed, layernorm",
                 id="problem"),
    pytest.param(["--problem", "gelu", "--candidate", "nosuch"],
                 "candidate must be one of correct, torch, tanh-arg", id="candidate"),
    pytest.param(["--problem", "gelu", "--size", "0"], "size must be ≥ 1", id="size"),
    pytest.param(["--problem", "gelu", "--input", "x=4"], "--problem runs a built-in problem; "
                 "drop --input", id="problem-and-input"),
    pytest.param(["--candidate", "torch"], "--candidate needs --problem", id="no-problem"),
    pytest.param(["usermod:Square.apply", "--reference", "usermod:ce", "--input", "x=4"],
                 "reference raised TypeError", id="reference-raises"),
]


@pytest.mark.parametrize("argv, words", BAD)
def test_bad_invocations_exit_2_with_one_line(user_dir, capsys, argv, words):
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out in ("", "a user module that prints on import\n")
    assert err.startswith("gradlab: error: ") and err.count("\n") == 1
    assert words in err


def test_built_in_problems(capsys):
    code, out, _ = run_cli(["--problem", "layernorm", "--candidate", "torch", "--size", "64"],
                           capsys)
    assert code == 0, out
    assert out.startswith("gradlab verify · layernorm torch against layernorm reference")
    code, out, _ = run_cli(["--problem", "layernorm", "--candidate", "no-mean", "--size", "64",
                            "--dtype", "float32", "--json"], capsys)
    doc = strict_loads(out)
    assert code == 1
    assert {v["input"]: v["status"] for v in doc["verdicts"]} == {
        "x": "fail", "weight": "pass", "bias": "pass"}


def test_list_names_every_problem_and_candidate(capsys):
    from gradlab.problems import PROBLEMS

    code, out, _ = run_cli(["--list"], capsys)
    assert code == 0
    for problem in PROBLEMS.values():
        assert f"{problem.name}: {problem.title}" in out
        for cand in problem.candidates:
            assert f"--candidate {cand.name} " in out
