"""The import graph of the xviz package has no cycle, between modules inside a package included, and no import is
hidden inside a function except the ones marked with a reason (ruff PLC0415). import-linter checks the contracts
between packages (pyproject.toml); this test reads every module's AST, so a cycle between two modules of one
package (which import-linter's package contracts cannot see) fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = Path(ROOT) / "xviz"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = here.split(".")[: len(here.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module → the xviz modules it imports at any depth of its AST (function-local imports count too)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, mod, path.name == "__init__.py")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                while t and t not in files:  # `import xviz.models.vit` → the module itself; attributes → their module
                    t = t.rpartition(".")[0]
                if t.startswith("xviz") and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None: depth-first search with colours."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        colour[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if colour.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in colour and (found := visit(n)):
                return found
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(graph):
        if m not in colour and (found := visit(m)):
            return found
    return None


def _ancestors_only(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ importing its own submodules, and a submodule importing its package, is how Python
    packages work, not a cycle between concepts: drop the edges from a module to the packages that contain it."""
    return {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_relative_and_function_local_imports():
    graph = import_graph()
    assert "xviz.models._checkpoint" in graph["xviz.models.mae"]
    assert "xviz.adapters.hf.load" in graph["xviz.adapters.hf"]  # the package re-exports its loader


def test_no_import_cycle_anywhere_in_xviz():
    cycle = find_cycle(_ancestors_only(import_graph()))
    assert cycle is None, " → ".join(cycle)
