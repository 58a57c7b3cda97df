"""dashboard/preload.py: the first page's imports, taken in a thread while the server
starts (``python -m dashboard``). Each test runs in a fresh interpreter, where nothing
is imported yet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def output(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (which must exit 0 and print nothing
    on stderr: no traceback from the thread either)."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.strip()


def test_importing_it_imports_nothing_heavy():
    assert output("import sys, dashboard.preload\n"
                  "print(sorted(m for m in ('torch', 'pandas', 'altair', 'streamlit') "
                  "if m in sys.modules))") == "[]"


def test_start_imports_the_first_pages_modules_and_wait_holds_until_done():
    printed = output("import sys\n"
                     "from dashboard import preload\n"
                     "thread = preload.start()\n"
                     "assert preload.start() is thread, 'one thread per process'\n"
                     "preload.wait()\n"
                     "assert not thread.is_alive()\n"
                     "import altair.utils.schemapi as schemapi\n"
                     "print(all(m in sys.modules for m in preload.MODULES), "
                     "schemapi.DEBUG_MODE)")
    assert printed.split() == ["True", "False"], "imported, and Altair's debug mode off"


def test_wait_without_start_returns_at_once():
    assert output("import sys\n"
                  "from dashboard import preload\n"
                  "preload.wait()\n"
                  "print('torch' in sys.modules)") == "False"


def test_a_failing_import_is_left_for_the_page_silently():
    assert output("from dashboard import preload\n"
                  "preload.MODULES = ('gradlab_no_such_module',)\n"
                  "preload.start(); preload.wait()\n"
                  "print('served')") == "served"
