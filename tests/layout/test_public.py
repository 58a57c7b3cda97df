"""What a reader meets first: every module of gradlab/ says what it exports
(``__all__``, more-itertools' habit), and the functions a reader starts from read in
one screen (issue 19: at most 40 lines, steps named as functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p for p in ROOT.glob("gradlab/**/*.py") if p.name != "__main__.py")

#: (file, function): where a reader starts; each at most ORCHESTRATOR_LINES lines.
ORCHESTRATORS = [
    ("gradlab/core/verdict.py", "verdict"),
    ("gradlab/verification/run.py", "verify"),
    ("gradlab/verification/run.py", "gradient_deltas"),
    ("gradlab/problems/seed/check.py", "run_check"),
    ("gradlab/cli/sweep.py", "run_sweep_command"),
]
ORCHESTRATOR_LINES = 40


def exported(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))
    return None


def bound(tree: ast.Module) -> set[str]:
    """The names a module binds at top level: definitions, assignments, imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node in tree.body:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_declares_what_it_exports(path):
    tree = ast.parse(path.read_text())
    names = exported(tree)
    assert names is not None, f"{path.relative_to(ROOT)} has no __all__"
    missing = [n for n in names if n not in bound(tree) and path.name != "__init__.py"]
    assert not missing, f"__all__ names what the module does not define: {missing}"
    public = [n.name for n in tree.body
              if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")]
    unlisted = [n for n in public if n not in names]
    assert not unlisted, f"public definitions left out of __all__: {unlisted}"


@pytest.mark.parametrize("where, name", ORCHESTRATORS, ids=lambda v: str(v))
def test_the_orchestrators_read_in_one_screen(where, name):
    tree = ast.parse((ROOT / where).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    lines = node.end_lineno - node.lineno + 1
    assert lines <= ORCHESTRATOR_LINES, f"{where} {name} is {lines} lines"
