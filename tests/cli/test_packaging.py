"""Packaging: pyproject.toml declares what gradlab imports, within requirements.txt's
pins, and the CLI names a missing package instead of failing on an import."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from gradlab.cli.main import REQUIREMENTS

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DEPENDENCIES = {r.name: r for r in map(Requirement, PROJECT["dependencies"])}
EXTRAS = {r.name: r for r in map(Requirement, PROJECT["optional-dependencies"]["dashboard"])}


def pins(name: str) -> dict[str, Version]:
    """name == version lines of a requirements file (``-r`` lines skipped)."""
    found = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            found[req.name] = Version(spec.version)
    return found


def third_party_imports(paths) -> set[str]:
    """Top-level names of every absolute import in ``paths``, less the standard library
    and gradlab (imports inside functions included)."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"gradlab", "dashboard", "__future__"}


def test_the_package_declares_every_third_party_module_it_imports():
    """Every module gradlab imports is the CLI's REQUIREMENTS' (module → requirement:
    ``vl_convert`` is the distribution ``vl-convert-python``), and those are pyproject's."""
    used = third_party_imports(sorted((ROOT / "gradlab").rglob("*.py")))
    assert used == set(REQUIREMENTS), "gradlab imports ≠ the CLI's REQUIREMENTS"
    assert {Requirement(REQUIREMENTS[m]).name for m in used} == set(DEPENDENCIES)
    assert "streamlit" not in used


def test_the_dashboard_needs_only_the_dashboard_extra_beyond_that():
    used = third_party_imports([ROOT / "app.py", *sorted((ROOT / "dashboard").rglob("*.py"))])
    assert used <= set(DEPENDENCIES) | set(EXTRAS), used - set(DEPENDENCIES) - set(EXTRAS)


def test_every_pin_lies_in_its_declared_range():
    pinned = pins("requirements.txt")
    for name, req in {**DEPENDENCIES, **EXTRAS}.items():
        assert name in pinned, f"{name} is declared but requirements.txt does not pin it"
        assert pinned[name] in req.specifier, (name, str(pinned[name]), str(req.specifier))
        # a compatible range: the tested version up to the next major one
        assert Version(f"{pinned[name].major + 1}") not in req.specifier, name


def test_the_cli_names_the_same_requirements_as_pyproject():
    assert {Requirement(text).name: Requirement(text) for text in REQUIREMENTS.values()} \
        == DEPENDENCIES


def without(module: str, *argv: str) -> subprocess.CompletedProcess:
    """``python -m gradlab argv`` in a process where ``import module`` fails."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from gradlab.cli import main\nraise SystemExit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("gradlab: error: ")
    return lines[0]


def test_without_pandas_sweep_is_listed_and_says_what_is_missing():
    listed = without("pandas", "--help")
    assert listed.returncode == 0 and "sweep" in listed.stdout
    line = one_line(without("pandas", "sweep", "--dims", "2", "--no-progress"))
    assert "the sweep command needs pandas, which is not installed" in line
    assert f"-m pip install '{REQUIREMENTS['pandas']}'" in line
    assert without("pandas", "check", "--preset", "notebook").returncode == 0


def test_without_tqdm_sweep_says_what_is_missing():
    line = one_line(without("tqdm", "sweep", "--dims", "2"))
    assert f"the sweep command needs tqdm, which is not installed: {sys.executable} -m pip " \
           f"install '{REQUIREMENTS['tqdm']}'" in line


def test_without_torch_the_cli_says_so_and_names_the_cpu_build():
    line = one_line(without("torch", "check"))
    assert "gradlab needs torch, which is not installed" in line
    assert f"'{REQUIREMENTS['torch']}'" in line
    assert "--index-url https://download.pytorch.org/whl/cpu" in line
