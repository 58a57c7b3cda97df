"""The layers of gradlab/ and dashboard/, read from the source (imports at module
level and inside functions alike): which package may import which, the import
cycles among modules, and private names taken across modules.

The layers, lowest first (docs/development.md): core → verification → problems →
sweep → corpus, studies, cli → charts → dashboard. A module may import its own
layer and those below. What still breaks a rule is listed here by name (issue 19
removes it); a listed exception that no longer occurs fails too, so the list
shrinks as the code is fixed and never hides a new breach.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LAYERS = {"_version": 0, "core": 0, "verification": 1, "problems": 2, "sweep": 3,
          "corpus": 4, "studies": 4, "cli": 4, "charts": 5, "dashboard": 6,
          "gradlab": 7, "__main__": 7, "public": 7}

#: (importing package, imported package): the known breaches of the layers.
KNOWN_UPWARD: set[tuple[str, str]] = set()
#: Module cycles (each as its sorted members) that issue 19 still has to break.
KNOWN_CYCLES: set[tuple[str, ...]] = set()
#: (importing module, imported module, name): private names taken across modules.
KNOWN_PRIVATE: set[tuple[str, str, str]] = set()


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted([*ROOT.glob("gradlab/**/*.py"), *ROOT.glob("dashboard/**/*.py")]):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return out


def imports(tree: ast.Module, known: set[str]) -> list[tuple[str, list[str]]]:
    """(module, names taken from it) for every import of gradlab/dashboard code,
    the module resolved to the longest known prefix (a package's __init__ or a
    module)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [a.name for a in node.names]
            subs = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in known]
            if subs:
                found += [(s, []) for s in subs]
            else:
                found.append((node.module, names))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return [(resolve(m, known), names) for m, names in found
            if m.split(".")[0] in ("gradlab", "dashboard") and resolve(m, known)]


def resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def package(module: str) -> str:
    parts = module.split(".")
    return "dashboard" if parts[0] == "dashboard" else (parts[1] if len(parts) > 1 else "gradlab")


def graph() -> dict[str, dict[str, list[str]]]:
    mods = modules()
    known = set(mods)
    return {m: {target: names for target, names in imports(tree, known) if target != m}
            for m, tree in mods.items()}


def cycles(edges: dict[str, dict]) -> set[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(tuple(sorted(component)))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_package_imports_a_higher_layer_but_the_known_ones():
    upward = {(package(m), package(t)) for m, targets in graph().items() for t in targets
              if LAYERS[package(t)] > LAYERS[package(m)]}
    assert upward - KNOWN_UPWARD == set(), "a new import of a higher layer"
    assert KNOWN_UPWARD - upward == set(), "fixed: take it off KNOWN_UPWARD"


def test_no_import_cycle_but_the_known_ones():
    found = cycles(graph())
    assert found - KNOWN_CYCLES == set(), "a new import cycle"
    assert KNOWN_CYCLES - found == set(), "fixed: take it off KNOWN_CYCLES"


def test_the_dashboard_imports_nothing_from_the_cli():
    assert not [(m, t) for m, targets in graph().items() for t in targets
                if m.startswith("dashboard") and t.startswith("gradlab.cli")]


def test_no_private_name_is_taken_from_another_module_but_the_known_ones():
    taken = {(m, t, n) for m, targets in graph().items() for t, names in targets.items()
             for n in names if n.startswith("_") and not n.startswith("__")}
    assert taken - KNOWN_PRIVATE == set(), "a new import of another module's private name"
    assert KNOWN_PRIVATE - taken == set(), "fixed: take it off KNOWN_PRIVATE"


def test_the_cycle_finder_finds_a_cycle_and_only_one():
    edges = {"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}
    assert cycles(edges) == {("a", "b", "c")}
