"""README.md as written: its Python runs, its command lines use real flags, it stays
short, and every relative link in it and in docs/ leads somewhere."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

import gradlab
from gradlab.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_LINES = 300


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def command_lines(path: Path) -> list[str]:
    """Every ``python -m gradlab …`` line of ``path``, continuation lines joined; a
    line with "…" is a template, not a command."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines()
            if line.strip().startswith("python -m gradlab ") and "…" not in line]


@pytest.fixture
def readme_namespace(tmp_path, monkeypatch, capsys) -> tuple[dict, str]:
    """Every Python block of the README run in order, in one namespace, in an empty
    working directory; what they printed."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(python_blocks(README)):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    return namespace, capsys.readouterr().out


def test_the_readme_is_at_most_300_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines, over {MAX_LINES}"


def test_the_readme_python_runs_as_written(readme_namespace):
    namespace, out = readme_namespace
    report = namespace["report"]
    assert isinstance(report, gradlab.Report)
    assert report.passed, str(report)
    assert "· passed" in out.splitlines()[1]  # the printed report's header line
    assert set(report.frame["dtype"]) == {"float32", "bfloat16", "float16"}
    assert namespace["frame"].attrs["complete"] and len(namespace["frame"]) == 8
    assert namespace["data"].startswith(b"m,n,batch,dtype")


def test_the_readme_pytest_idiom_passes(readme_namespace):
    namespace, _ = readme_namespace
    tests = [name for name in namespace if name.startswith("test_")]
    assert tests == ["test_rms_norm_backward"]
    namespace["test_rms_norm_backward"]()


def test_a_dropped_mean_term_fails_as_the_readme_says():
    """"Drop the mean term from ∂x and every x row fails, in every dtype"."""
    block = next(b for b in python_blocks(README) if "class RMSNorm" in b)
    term = "(g - x_hat * (g * x_hat).mean(-1, keepdim=True)) * rstd"
    assert term in block
    source = block.replace(term, "g * rstd").split("report = ")[0]
    namespace: dict = {"__name__": "readme_bug"}
    exec(compile(source, "README.md (mean term dropped)", "exec"), namespace)
    report = gradlab.verify(namespace["RMSNorm"].apply, namespace["rms_norm_reference"],
                            {"x": (32, 512), "w": (512,)})
    status = report.frame.groupby("input")["status"].agg(set).to_dict()
    assert status == {"x": {"fail"}, "w": {"pass"}}
    with pytest.raises(AssertionError, match="x"):
        report.assert_ok()


def test_the_readme_verify_command_runs_on_the_example(tmp_path, monkeypatch, capsys):
    """The README's `verify my_ops:…` line, with the example saved as my_ops.py."""
    block = next(b for b in python_blocks(README) if "class RMSNorm" in b)
    (tmp_path / "my_ops.py").write_text(block.split("report = ")[0], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delitem(sys.modules, "my_ops", raising=False)
    (line,) = [ln for ln in command_lines(README) if "my_ops:" in ln]
    assert main(shlex.split(line)[3:]) == 0
    assert "passed" in capsys.readouterr().out


def test_the_sweep_api_doc_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks(ROOT / "docs" / "sweep-api.md")
    namespace: dict = {"__name__": "sweep_api_doc"}
    exec(compile(block, "docs/sweep-api.md", "exec"), namespace)
    assert namespace["sweep"].points == 12 == len(namespace["frame"])


def readme_and_cli_doc_commands() -> list[tuple[str, str]]:
    return [(path.name, line) for path in (README, ROOT / "docs" / "cli.md")
            for line in command_lines(path)]


@pytest.mark.parametrize(("doc", "line"), readme_and_cli_doc_commands(),
                         ids=[f"{d}: {ln[len('python -m gradlab '):][:60]}"
                              for d, ln in readme_and_cli_doc_commands()])
def test_every_command_line_shown_parses(doc, line):
    """Each command shown uses real flags (parsed, not run: sweeps take minutes)."""
    argv = []
    for token in shlex.split(line, comments=True)[3:]:
        if token.startswith((">", "|")):
            break
        argv.append(token)
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{doc}: `{line}` does not parse (exit {exc.code})")


def test_the_readme_gives_both_commands_and_ci_runs_the_test_one():
    text = README.read_text(encoding="utf-8")
    assert "\n    bash scripts/run.sh\n" in text and "\n    bash scripts/test.sh\n" in text
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == ["bash scripts/test.sh"]


# --------------------------------------------------------------------- links

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → -."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_and_anchor(doc):
    broken = []
    for target in relative_links(doc):
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not broken, f"{doc.name}: " + "; ".join(broken)


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert [p.name for p in DOCS if p.resolve() not in linked] == []


def test_no_doc_points_at_files_outside_the_repository():
    """The seed notebook's text is not in the repository: no doc may send a reader to it."""
    for doc in [README, *DOCS]:
        text = doc.read_text(encoding="utf-8")
        assert "shared/seed" not in text and "shared/notes" not in text, doc.name


def test_the_slug_follows_github():
    assert slug("The CLI in brief") == "the-cli-in-brief"
    assert slug("`python -m gradlab sweep`") == "python--m-gradlab-sweep"
    assert slug("Bug or rounding? The verdict") == "bug-or-rounding-the-verdict"

