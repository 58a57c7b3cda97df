"""scripts/run.sh and scripts/test.sh: which Python they install into and run.

A stand-in Python (GRADLAB_PYTHON) records each call, so the scripts run for real
without installing or starting anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_python(tmp_path) -> tuple[Path, Path]:
    """(a Python that logs its arguments and runs only ``-c`` snippets, its log)."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "python"
    fake.write_text(f"""#!/bin/sh
if [ "$1" = "-c" ]; then echo "-c" >> "{log}"; exec "{sys.executable}" "$@"; fi
echo "$*" >> "{log}"
""")
    fake.chmod(0o755)
    return fake, log


def run_script(name: str, fake: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADLAB_PYTHON": str(fake)}
    return subprocess.run(["bash", str(ROOT / "scripts" / name), *args], cwd="/", env=env,
                          capture_output=True, text=True, timeout=60)


def calls(log: Path) -> list[str]:
    """The logged calls, less the ``-c`` one that says which Python is used."""
    return [line for line in log.read_text().splitlines() if line != "-c"]


def test_run_sh_installs_into_gradlab_python_then_starts_the_dashboard(fake_python):
    fake, log = fake_python
    done = run_script("run.sh", fake, "--server.port", "8599")
    assert done.returncode == 0, done.stderr
    assert calls(log) == ["-m pip install -q -r requirements.txt -e .[dashboard]",
                          "-m dashboard app.py --server.port 8599"]
    assert f"gradlab: installing into and running {sys.executable}" in done.stderr


@pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK),
                    reason="test.sh would install Chromium first")
def test_test_sh_installs_the_test_requirements_then_runs_ruff_and_pytest(fake_python):
    fake, log = fake_python
    done = run_script("test.sh", fake, "-m", "not browser")
    assert done.returncode == 0, done.stderr
    assert calls(log) == ["-m pip install -q -r requirements-dev.txt", "-m ruff check .",
                          "-m pytest -m not browser"]
    in_venv = sys.prefix != sys.base_prefix
    assert ("(a virtual environment)" if in_venv else "(not a virtual environment;") \
        in done.stderr


def test_a_gradlab_python_that_does_not_exist_is_one_clear_line(tmp_path):
    done = run_script("run.sh", tmp_path / "no-such-python")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"gradlab: {tmp_path / 'no-such-python'} is not a Python "
                                   "on this machine: set GRADLAB_PYTHON to one")


def test_without_gradlab_python_the_python_on_path_is_used(fake_python, tmp_path):
    fake, log = fake_python
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(fake, bin_dir / "python")
    env = {k: v for k, v in os.environ.items() if k != "GRADLAB_PYTHON"}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "run.sh")], cwd="/", env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert calls(log)[0] == "-m pip install -q -r requirements.txt -e .[dashboard]"
