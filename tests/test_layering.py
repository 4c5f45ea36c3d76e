"""The package's import structure stays as docs/architecture.md draws it.

Every ``import`` in ``vectordb/`` counts: at module level, inside functions and under
``TYPE_CHECKING`` alike (a type-only import is still a dependency a reader follows). Three
rules, each with a test that reads the source with ``ast`` (no import runs):

1. No import cycle, between modules or between packages.
2. Layers: a unit (a top-level module, or a subpackage) imports only units in lower layers,
   and modules of its own package. ``storage``, ``index`` and ``filters`` never import each
   other.
3. The numba kernels import only numpy, numba, llvmlite, the standard library and each other.

A new module must be given a layer here: that is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vectordb"

#: lowest first; a unit may import the units of earlier layers only
LAYERS: list[set[str]] = [
    {"errors", "version"},
    {"dependencies", "display"},
    {"results"},
    {"files", "filters"},
    {"config"},
    {"config_sources", "locking", "observability", "embeddings"},
    {"storage", "index"},
    {"concurrency", "inputs"},
    {"engine"},
    {"search", "lifecycle", "transfer"},
    {"collection"},
    {"database", "platform_info"},
    {""},  # the package itself: vectordb/__init__.py, the public API
    {"cli"},
    {"__main__"},  # python -m vectordb, which runs the cli
]
SIBLINGS = {"storage", "index", "filters"}
KERNELS = {
    "vectordb.index.kernels",
    "vectordb.index.scan_kernels",
    "vectordb.index.filtered_kernels",
    "vectordb.storage.checksum_kernels",
}
KERNEL_IMPORTS = {"numpy", "numba", "llvmlite"}


def _module_name(path: Path) -> str:
    parts = ["vectordb", *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import in module ``name``, relative ones resolved;
    ``from package import submodule`` counts as an import of the submodule."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule if submodule in MODULES else base, node.lineno))
    return found


def _internal_imports(name: str) -> list[tuple[str, int]]:
    """The ``vectordb`` modules module ``name`` imports, with the line of each import."""
    seen = set()
    for target, line in _imports(name):
        while target not in MODULES and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in MODULES and target != name:
            seen.add((target, line))
    return sorted(seen)


def _unit(name: str) -> str:
    return name.split(".")[1] if "." in name else ""


def _layer(unit: str) -> int:
    for position, units in enumerate(LAYERS):
        if unit in units:
            return position
    raise AssertionError(f"vectordb.{unit} has no layer in tests/test_layering.py: give it one")


GRAPH = {name: [target for target, _ in _internal_imports(name)] for name in MODULES}


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_every_module_is_read() -> None:
    # a guard on the guard: the walk sees the whole package, and imports inside it
    assert {"vectordb.engine.engine", "vectordb.collection", "vectordb.files.io"} <= set(MODULES)
    assert "vectordb.engine.state" in GRAPH["vectordb.engine.engine"]
    assert "vectordb.engine.state" in GRAPH["vectordb.search.planner"]  # a TYPE_CHECKING import


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_packages() -> None:
    units: dict[str, set[str]] = defaultdict(set)
    for name, targets in GRAPH.items():
        for target in targets:
            if _unit(target) != _unit(name):
                units[_unit(name)].add(_unit(target))
    assert _cycles({unit: sorted(targets) for unit, targets in units.items()}) == []


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = []
    for name in MODULES:
        unit = _unit(name)
        for target, line in _internal_imports(name):
            other = _unit(target)
            if other == unit:
                continue
            if _layer(other) >= _layer(unit):
                wrong.append(
                    f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} {name} -> {target}"
                )
    assert wrong == [], "imports against the layers:\n" + "\n".join(wrong)


def test_storage_index_and_filters_never_import_each_other() -> None:
    for name in MODULES:
        if _unit(name) in SIBLINGS:
            crossing = {t for t in GRAPH[name] if _unit(t) in SIBLINGS - {_unit(name)}}
            assert not crossing, f"{name} imports {sorted(crossing)}"


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernels_import_only_numpy_numba_and_each_other(kernel: str) -> None:
    for target, line in _imports(kernel):
        top = target.split(".")[0]
        if top == "vectordb":
            assert target.rsplit(".", 1)[0] in KERNELS or target in KERNELS, (kernel, line, target)
        else:
            assert top in KERNEL_IMPORTS or top in sys.stdlib_module_names, (kernel, line, target)


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checks themselves work: a cycle and an upward import are found."""
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _layer("storage") < _layer("engine") < _layer("collection") < _layer("database")
    with pytest.raises(AssertionError, match="has no layer"):
        _layer("somewhere_new")
