"""``gradlab dashboard [STREAMLIT OPTIONS …]``: start the dashboard from an installed
gradlab (``pip install 'gradlab[dashboard]'``), e.g. ``gradlab dashboard
--server.port 8600``.

gradlab never imports Streamlit or the dashboard: this runs the dashboard's own
program, ``python -m dashboard``, which hands the packaged app to ``streamlit run``
with a shared instance's settings; every option given here goes to Streamlit.
"""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["COMMAND", "add_dashboard", "run_dashboard"]

COMMAND = "dashboard"


def add_dashboard(sub) -> None:
    """The subcommand, for ``--help``; main() hands ``dashboard …`` to run_dashboard
    before argparse, since its options are Streamlit's (``--server.port 8600``)."""
    sub.add_parser(COMMAND, add_help=False,
                   help="start the dashboard (options go to streamlit run, such as "
                        "--server.port 8600)")


def run_dashboard(args: list[str]) -> int:
    """Become the dashboard's process (so a container's stop signal reaches Streamlit);
    2 when the dashboard or Streamlit is not installed."""
    missing = [name for name in ("dashboard", "streamlit")
               if importlib.util.find_spec(name) is None]
    if missing:
        print(f"gradlab: error: the dashboard needs {' and '.join(missing)}, which this "
              f"Python lacks: {sys.executable} -m pip install 'gradlab[dashboard]'",
              file=sys.stderr)
        return 2
    os.execv(sys.executable, [sys.executable, "-m", "dashboard", *args])
    return 0  # not reached
