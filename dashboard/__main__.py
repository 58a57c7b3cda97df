"""``python -m dashboard [SCRIPT.py] [STREAMLIT OPTIONS …]``: ``streamlit run`` on the
installed dashboard's script (dashboard/serve/app.py) or on SCRIPT (the checkout's
app.py: scripts/run.sh), with the settings of a shared instance (``SETTINGS``, the
same as the checkout's .streamlit/config.toml); options given here come after them,
so they win. ``gradlab dashboard`` runs this.

Streamlit runs in this process, after ``preload.start`` has set the first page's
imports going in a thread beside it (dashboard/preload.py): a first visitor's page
waits less, or not at all, for torch and the rest to import.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from dashboard import preload

__all__ = ["SCRIPT", "SETTINGS", "main", "streamlit_args"]

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


def streamlit_args(args: list[str]) -> list[str]:
    """``streamlit``'s arguments: ``run``, the script (``args``' first if it names a
    .py file, else SCRIPT), SETTINGS, then the rest of ``args``."""
    script = str(SCRIPT)
    if args and args[0].endswith(".py"):
        script, args = args[0], args[1:]
    settings = [f"--{name}={value}" for name, value in SETTINGS.items()]
    return ["run", script, *settings, *args]


def main(args: list[str] | None = None) -> int:
    if importlib.util.find_spec("streamlit") is None:
        print(f"gradlab: error: the dashboard needs Streamlit, which is not installed: "
              f"{sys.executable} -m pip install 'gradlab[dashboard]'", file=sys.stderr)
        return 2
    from streamlit.web import cli

    argv = streamlit_args(sys.argv[1:] if args is None else list(args))
    # After Streamlit's own import, which the thread would otherwise slow down.
    preload.start()
    cli.main(args=argv, prog_name="streamlit")  # click: exits with Streamlit's status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
