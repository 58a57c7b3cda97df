"""The dashboard from an installed gradlab, not the checkout: ``pip install
".[dashboard]"`` into a fresh virtual environment, then ``gradlab dashboard
--server.port P`` in an empty folder serves the Explorer (issue 20).

The environment sees the machine's packages (``--system-site-packages``: torch,
Streamlit …), and pip installs gradlab itself from the checkout with no index and no
build isolation, so nothing is fetched from the network.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from browser_helpers import ROOT, open_page, start_server, stop_server

from dashboard.pages import HOME

pytest_plugins = ["browser_helpers"]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with gradlab installed from the checkout."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index",
                    "--no-build-isolation", f"{ROOT}[dashboard]"], check=True,
                   capture_output=True)
    return venv


def test_gradlab_dashboard_serves_the_explorer_from_the_installed_package(
        installed, browser, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PYTHONPATH": ""}
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import dashboard, gradlab; print(dashboard.__file__); print(gradlab.__file__)"],
        cwd=work, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
        check=True).stdout.split()
    assert all(path.startswith(str(installed)) for path in where), where
    server = start_server(tmp_path / "installed.log", env=env, cwd=work,
                          command=lambda port: [str(installed / "bin" / "gradlab"), "dashboard",
                                                "--server.port", str(port),
                                                "--server.address", "127.0.0.1"])
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        open_page(page, server.url)
        assert page.locator("h1").first.inner_text().strip() == HOME.title
        page.close()
    finally:
        stop_server(server)
    assert "Uncaught" not in server.tail() and "Traceback" not in server.tail()


def test_the_installed_package_carries_verifys_compare_pass_source(installed, tmp_path):
    """compare_pass.c is package data: an installed gradlab builds its kernel from it."""
    found = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "from gradlab.core.compare_pass import _SOURCE; print(_SOURCE, _SOURCE.is_file())"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""}, capture_output=True,
        text=True, check=True).stdout.split()
    assert found[0].startswith(str(installed)) and found[1] == "True", found
