"""Every file path and module name that the docs and the docstrings give leads
somewhere: ``gradlab/sweep/schema.py`` exists, ``gradlab.sweep.export.to_csv_bytes``
is a module's name (issue 19: references to moved code go stale silently)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("gradlab", "dashboard", "tests", "bench", "scripts", "docs")
#: A relative path under one of TOPS, with an extension or a trailing slash.
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOPS) + r")/[\w./-]*\w(?:\.\w+|/))")
#: A dotted name under gradlab or dashboard: gradlab.sweep.export.to_csv_bytes.
DOTTED = re.compile(r"(?<![\w./-])((?:gradlab|dashboard)(?:\.\w+)+)")
#: Paths that are made where they are named (outputs, a user's files).
MADE = ("docs/screenshots/",)
#: A file name in prose ("see dashboard.md"), not a module.
FILE_SUFFIXES = (".md", ".py", ".csv", ".txt", ".toml", ".json", ".png", ".html", ".svg")
#: A placeholder in a template ("dashboard/views/X.py" for a page named X).
PLACEHOLDER = re.compile(r"(^|[./])[xX]([./]|$)")


def sources() -> list[Path]:
    return sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
                   *ROOT.glob("gradlab/**/*.py"), *ROOT.glob("dashboard/**/*.py"),
                   *ROOT.glob("bench/*.py"), ROOT / "app.py"])


def prose(path: Path) -> str:
    """A markdown file whole; a Python file's docstrings and comments."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return text
    tree = ast.parse(text)
    docs = [ast.get_docstring(n) or "" for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))]
    comments = [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    return "\n".join(docs + comments)


def module_defines(module: Path, name: str) -> bool:
    """``name`` is bound in ``module``, or exported by it (a package's ``__all__``
    whose names load on first use)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets) \
                and name in ast.literal_eval(node.value):
            return True
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (a.asname or a.name) == name for a in node.names):
            return True
    return False


def resolves(dotted: str) -> bool:
    """A package, a module, or a name a module defines (one level of attributes:
    ``module.Class.method`` reads as ``module.Class``)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.exists():
            rest = parts[i:]
            return not rest or module_defines(module, rest[0])
    return False


def broken(path: Path) -> list[str]:
    text = prose(path)
    bad = [p for p in PATH.findall(text) if not p.startswith(MADE)
           and not PLACEHOLDER.search(p) and not (ROOT / p.rstrip("/")).exists()]
    bad += [d for d in DOTTED.findall(text) if not d.endswith(FILE_SUFFIXES)
            and not PLACEHOLDER.search(d) and not resolves(d)]
    return sorted(set(bad))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_path_and_module_exists(path):
    assert not broken(path), f"{path.relative_to(ROOT)} names what does not exist"
