"""``gradlab dashboard``: the installed dashboard's command line (the served app is
tested in tests/dashboard/browser/test_installed.py)."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

from conftest import run_cli

from dashboard import __main__ as dashboard_main
from gradlab.cli import dashboard as command

ROOT = Path(__file__).resolve().parents[2]


def test_streamlit_runs_the_packaged_app_with_the_shared_settings_then_the_users():
    argv = dashboard_main.streamlit_args(["--server.port", "8600"])
    assert argv[:2] == ["run", str(dashboard_main.SCRIPT)]
    assert dashboard_main.SCRIPT.exists() and dashboard_main.SCRIPT.parent.name == "serve"
    assert argv[-2:] == ["--server.port", "8600"], "the user's options come last: they win"


def test_a_script_named_first_is_run_instead_with_the_same_settings():
    argv = dashboard_main.streamlit_args(["app.py", "--server.port", "8600"])
    assert argv[:2] == ["run", "app.py"] and str(dashboard_main.SCRIPT) not in argv
    assert argv[2:-2] == dashboard_main.streamlit_args([])[2:]
    assert argv[-2:] == ["--server.port", "8600"]


def test_the_installed_settings_are_the_checkouts():
    """dashboard/__main__.SETTINGS says what .streamlit/config.toml says."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    flat = {f"{section}.{key}": str(value).lower() for section, keys in config.items()
            for key, value in keys.items()}
    assert flat == dashboard_main.SETTINGS


def test_without_streamlit_it_says_how_to_install_and_exits_2(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(command.importlib.util, "find_spec",
                        lambda name, *a: None if name == "streamlit" else real(name, *a))
    code, out, err = run_cli(["dashboard", "--server.port", "8600"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("gradlab: error: the dashboard needs streamlit") and \
        "pip install 'gradlab[dashboard]'" in err


def test_the_help_lists_the_command(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "dashboard" in out and "--server.port 8600" in out
