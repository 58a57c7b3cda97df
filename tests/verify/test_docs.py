"""docs/verify.md's examples run as written: the module, the script, the pytest idiom
and the CLI line."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from gradlab.cli.main import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "verify.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def block_with(*words: str) -> str:
    found = [b for b in blocks() if all(w in b for w in words)]
    assert len(found) == 1, f"one python block with {words} in docs/verify.md"
    return found[0]


@pytest.fixture
def my_ops(tmp_path, monkeypatch):
    """docs/verify.md's my_ops.py in a fresh working directory on sys.path."""
    (tmp_path / "my_ops.py").write_text(block_with("class RMSNorm"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delitem(sys.modules, "my_ops", raising=False)
    return tmp_path


def test_the_copy_paste_example_runs_and_passes(my_ops, capsys):
    exec(compile(block_with("from my_ops import", "print(report)"), "verify.md", "exec"), {})
    out = capsys.readouterr().out
    assert "· passed" in out.splitlines()[1]


def test_the_pytest_idiom_runs(my_ops):
    namespace: dict = {}
    exec(compile(block_with("def test_rms_norm_backward"), "verify.md", "exec"), namespace)
    namespace["test_rms_norm_backward"]()


def test_the_cli_line_runs(my_ops, capsys):
    line = next(ln.strip() for ln in DOC.read_text().splitlines()
                if ln.strip().startswith("python -m gradlab verify my_ops:"))
    argv = shlex.split(line)[3:]
    assert main(argv) == 0
    assert "passed" in capsys.readouterr().out


def test_a_dropped_term_fails_as_the_doc_says(my_ops):
    """"Drop the mean term from dx (dx = g * rstd) and every x row fails"."""
    source = block_with("class RMSNorm").replace(
        "dx = (g - x_hat * (g * x_hat).mean(-1, keepdim=True)) * rstd", "dx = g * rstd")
    namespace: dict = {}
    exec(compile(source, "my_ops_bug.py", "exec"), namespace)
    import gradlab

    report = gradlab.verify(namespace["RMSNorm"].apply, namespace["rms_norm_reference"],
                            {"x": (32, 512), "w": (512,)})
    status = report.frame.groupby("input")["status"].agg(set).to_dict()
    assert status == {"x": {"fail"}, "w": {"pass"}}
