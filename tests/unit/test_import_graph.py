"""The package's import graph: no cycles, the command line on top, the classifier protocol at the bottom.

Read from the source with ``ast`` (every ``import`` statement, inside functions too; imports under
``if TYPE_CHECKING:`` are left out, as they never run), so a lazy import that closes a cycle counts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "safeguard"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in _runtime_imports(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def _owner(name: str) -> str | None:
    """The package module that ``name`` (a module or a name inside one) belongs to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            anchor = package[: len(package) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        names = [f"{base}.{a.name}" for a in node.names]
    owners = {_owner(n) for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}
    return {o for o in owners if o is not None and o != module}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = set().union(*(_targets(module, n) for n in _runtime_imports(tree)))
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from safeguard.cli import app\n"
        "def f():\n    from safeguard.moderator import Moderator\n"
    )
    module = "safeguard.types"
    assert set().union(*(_targets(module, n) for n in _runtime_imports(tree))) == {"safeguard.moderator"}


def test_the_package_has_no_import_cycle() -> None:
    assert len(GRAPH) > 100
    assert _cycles(GRAPH) == []


def test_the_library_never_imports_the_command_line() -> None:
    # ``python -m safeguard`` runs the command line; nothing else below it may reach up to it.
    library = (m for m in GRAPH if not m.startswith("safeguard.cli") and m != "safeguard.__main__")
    upward = {m: sorted(t for t in GRAPH[m] if t.startswith("safeguard.cli")) for m in library}
    assert {m: t for m, t in upward.items() if t} == {}


def test_the_classifier_protocol_imports_no_implementation() -> None:
    assert GRAPH["safeguard.classifiers.base"] <= {
        "safeguard.errors",
        "safeguard.options",
        "safeguard.types",
        "safeguard",
    }


def test_text_normalisation_imports_no_classifier() -> None:
    """:mod:`safeguard.text` is pure functions that classifiers build on, never the other way round."""
    text_modules = {m for m in GRAPH if m == "safeguard.text" or m.startswith("safeguard.text.")}
    assert len(text_modules) >= 7
    for module in text_modules:
        outside = {d for d in GRAPH[module] if not (d == "safeguard.text" or d.startswith("safeguard.text."))}
        assert outside <= {"safeguard"}, (module, outside)
