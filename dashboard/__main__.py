"""``python -m dashboard [STREAMLIT OPTIONS …]``: the installed dashboard, started with
``streamlit run`` on the packaged script (dashboard/serve/app.py) and the settings of a
shared instance (``SETTINGS``, the same as the checkout's .streamlit/config.toml);
options given here come after them, so they win. ``gradlab dashboard`` runs this.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["SCRIPT", "SETTINGS", "command", "main"]

SCRIPT = Path(__file__).resolve().parent / "serve" / "app.py"

#: A shared instance's settings (.streamlit/config.toml says the same for a checkout:
#: tests/cli/test_dashboard_command.py holds the two together).
SETTINGS = {
    "browser.gatherUsageStats": "false",
    "client.toolbarMode": "viewer",
    "server.headless": "true",
    "server.maxUploadSize": "50",
    "server.runOnSave": "false",
}


def command(args: list[str]) -> list[str]:
    """The ``streamlit run`` command line: the packaged script, SETTINGS, then ``args``."""
    settings = [f"--{name}={value}" for name, value in SETTINGS.items()]
    return [sys.executable, "-m", "streamlit", "run", str(SCRIPT), *settings, *args]


def main(args: list[str] | None = None) -> int:
    if importlib.util.find_spec("streamlit") is None:
        print(f"gradlab: error: the dashboard needs Streamlit, which is not installed: "
              f"{sys.executable} -m pip install 'gradlab[dashboard]'", file=sys.stderr)
        return 2
    argv = command(sys.argv[1:] if args is None else list(args))
    os.execv(argv[0], argv)  # Streamlit takes over this process (and its signals)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
