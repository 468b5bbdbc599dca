"""The package's shape: no import cycles, and every import points down the pipeline.

``docs/architecture.md`` draws the map this test keeps true. Every import counts: at
module level, inside functions and under ``TYPE_CHECKING``, since each is a dependency
a reader must follow, and a lazy import that closes a cycle only hides it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import optimizer

from .conftest import ROOT

PACKAGE = Path(optimizer.__file__).resolve().parent
"""The package under test: the checkout's, or the installed one when the tests run
from outside the checkout (as CI does once)."""

LAYERS = [
    {"optimizer.errors", "optimizer.version", "optimizer.display"},
    {"optimizer.io"},
    {"optimizer.options", "optimizer.parallel"},
    {"optimizer.model"},
    {"optimizer.solvers"},
    {"optimizer.fitting"},
    {"optimizer.analysis"},
    {"optimizer.output"},
    {"optimizer", "optimizer.cli", "optimizer.__main__"},
]
"""Bottom to top; a module may import from its own layer or any layer below it."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's own modules ``name`` imports, wherever in the file it does so."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:  # ``from optimizer.solvers import gp`` imports a module
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    for level, members in enumerate(LAYERS):
        if module in members:
            return level
    for level, members in enumerate(LAYERS):
        if any(module.startswith(m + ".") for m in members if m != "optimizer"):
            return level
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and the architecture doc")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, as the modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_walk_sees_imports_inside_functions_and_type_checking_blocks():
    # cli imports everything lazily (start-up time); plots names result types only for
    # the type checker. Both must count, or a cycle could hide there.
    assert "optimizer.solvers.solve" in GRAPH["optimizer.cli"]
    assert "optimizer.analysis.sweep" in GRAPH["optimizer.output.plots"]


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle():
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_pipeline(module):
    upward = sorted(dep for dep in GRAPH[module] if _layer(dep) > _layer(module))
    assert not upward, f"{module} (layer {_layer(module)}) imports from above: {upward}"


def test_the_architecture_doc_names_every_subpackage():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for members in LAYERS:
        for module in members - {"optimizer", "optimizer.__main__"}:
            assert f"`{module.removeprefix('optimizer.')}" in text, module
