"""dashboard/pages.py, the one list of pages: every script it names exists and every
script is named, each page has its pure module named after it, and the AppTest of the
app shell covers every page. Also the views stay thin (short functions) and the pure
modules stay pure (no Streamlit, no other page's module)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from dashboard.pages import HOME, PAGES, PAGES_DIR, Page

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboard"
#: The dashboard's modules that belong to no page.
SHARED = {"__init__", "__main__", "formatting", "navigation", "pages", "preload", "tables",
          "ui", "urlstate"}
#: The longest a function in a page script may be (lines): longer, name its steps.
MAX_FUNCTION_LINES = 40
NAMES = [p.name for p in PAGES]


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports (at module level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_every_listed_script_exists():
    for page in PAGES:
        assert isinstance(page, Page)
        assert page.path.parent == PAGES_DIR and page.path.is_file(), page.script


def test_every_script_in_views_is_listed():
    assert {p.name for p in PAGES_DIR.glob("*.py")} == {p.script for p in PAGES}


def test_every_page_has_its_pure_module():
    for page in PAGES:
        assert (DASHBOARD / f"{page.name}.py").is_file(), f"dashboard/{page.name}.py"


def test_every_dashboard_module_is_a_page_s_or_shared():
    modules = {p.stem for p in DASHBOARD.glob("*.py")}
    assert modules - SHARED == set(NAMES), "a module that is neither a page's nor shared"


def test_names_titles_and_url_paths_are_unique():
    for field in ("script", "title", "url_path"):
        values = [getattr(p, field) for p in PAGES]
        assert len(set(values)) == len(values), field
    assert all(p.url_path and "/" not in p.url_path for p in PAGES)
    assert all(p.icon.startswith(":material/") for p in PAGES)


def test_the_first_page_is_the_home_page():
    assert HOME is PAGES[0]
    homes = [p.name for p in PAGES if "(home)" in ast.get_docstring(
        ast.parse(p.path.read_text())).splitlines()[0]]
    assert homes == [HOME.name], "only the home page's script calls itself (home)"


def test_the_page_list_and_the_pure_modules_never_import_streamlit():
    for path in [DASHBOARD / "pages.py", DASHBOARD / "formatting.py", DASHBOARD / "tables.py",
                 *(DASHBOARD / f"{name}.py" for name in NAMES)]:
        assert not {m for m in imported(path) if m.split(".")[0] == "streamlit"}, path.name
        assert "dashboard.ui" not in imported(path), path.name


@pytest.mark.parametrize("name", NAMES)
def test_a_page_imports_no_other_page_s_module(name):
    others = {f"dashboard.{n}" for n in NAMES if n != name}
    for path in (DASHBOARD / f"{name}.py", PAGES_DIR / f"{name}.py"):
        assert not imported(path) & others, path.relative_to(ROOT)


@pytest.mark.parametrize("name", NAMES)
def test_no_function_of_a_page_script_is_long(name):
    tree = ast.parse((PAGES_DIR / f"{name}.py").read_text())
    long = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES}
    assert not long, f"name the steps of {long} as functions"


def test_the_app_shell_apptest_covers_every_page():
    """tests/dashboard/app/test_app.py runs each page from app.py's navigation: its
    parametrization must be the whole list."""
    folder = ROOT / "tests" / "dashboard" / "app"
    if str(folder) not in sys.path:  # test_app imports apptest_helpers
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("shell_apptest", folder / "test_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    marks = [m for m in module.test_app_switches_to_every_page.pytestmark
             if m.name == "parametrize"]
    covered = [entry.url_path for m in marks for entry in m.args[1]]
    assert covered == [p.url_path for p in PAGES]
