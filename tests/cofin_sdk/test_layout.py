"""The SDK's layout: one-way imports between its parts, no import cycle (issue 18).

Reads every module of ``cofin_sdk`` with :mod:`ast` and collects what it imports at
module level AND inside functions (an import in a function is still a dependency; only
``if TYPE_CHECKING:`` blocks are left out). Then checks:

* the layer order below: a part may import its own layer and the layers before it,
  never a later one (``io`` importing ``results`` fails);
* no cycle between modules (``results.detections`` -> ``results.drawing`` -> back fails);
* no cycle between parts (subpackages and root modules), even through different modules;
* the package root stays small.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import cofin_sdk

SDK = Path(cofin_sdk.__file__).parent

# Lowest first. A part is a subpackage or a root module of cofin_sdk (first name after it).
LAYERS: list[set[str]] = [
    {"_lazy", "_moved", "formats", "io", "preprocessing"},  # bottom: torch-free, no models
    {"results"},
    {"tracking"},
    {"models", "person_detection"},
    {"export"},
    {"backends", "hub"},
    {"detector"},
    {"cli"},
    {"__init__"},  # the facade: re-exports lazily, imported by nothing
]

#: Root entries besides subpackages and caches (the issue: "at most ~10").
MAX_ROOT_FILES = 10


def _layer(module: str) -> int:
    part = _part(module)
    for index, parts in enumerate(LAYERS):
        if part in parts:
            return index
    raise AssertionError(f"{module}: part {part!r} is in no layer of LAYERS (add it)")


def _part(module: str) -> str:
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def sdk_modules(root: Path = SDK) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the package at ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        names = [root.name, *path.relative_to(root).with_suffix("").parts]
        if names[-1] == "__init__":
            names.pop()
        modules[".".join(names)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under ``node``, at any depth, except in ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for orelse in child.orelse:
                yield from _import_nodes(ast.Module(body=[orelse], type_ignores=[]))
        else:
            yield from _import_nodes(child)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The SDK modules that module ``name`` (file ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name``, mod.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        found |= {target for target in targets if target in modules and target != name}
    return found


def import_graph(root: Path = SDK) -> dict[str, set[str]]:
    modules = sdk_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{a} -> {b}" for a in sorted(graph) for b in sorted(graph[a]) if _layer(b) > _layer(a)]


def part_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    parts: dict[str, set[str]] = {}
    for a, targets in graph.items():
        parts.setdefault(_part(a), set()).update(_part(b) for b in targets if _part(b) != _part(a))
    return parts


# ------------------------------------------------------------------ the SDK
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_part_has_a_layer(graph):
    for name in graph:
        _layer(name)


def test_no_upward_import(graph):
    assert upward_imports(graph) == [], "imports against the layer order (LAYERS)"


def test_no_module_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_cycle_between_parts(graph):
    cycle = find_cycle(part_graph(graph))
    assert cycle is None, "import cycle between parts: " + " -> ".join(cycle)


def test_package_root_is_small():
    files = [p.name for p in SDK.iterdir() if p.is_file() and not p.name.startswith(".")]
    assert len(files) <= MAX_ROOT_FILES, sorted(files)


# ------------------------------------------------------------------ the checker itself
def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "cofin_sdk"


def test_checker_sees_function_level_and_relative_imports_not_type_checking(tmp_path):
    sdk = _write(
        tmp_path,
        {
            "cofin_sdk/__init__.py": "",
            "cofin_sdk/io/__init__.py": "",
            "cofin_sdk/io/video.py": "def f():\n    from ..results import draw\n",
            "cofin_sdk/results/__init__.py": "",
            "cofin_sdk/results/draw.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from cofin_sdk.models import hub\n"
                "from . import table\nimport cofin_sdk.io.video\n"
            ),
            "cofin_sdk/results/table.py": "",
            "cofin_sdk/models/__init__.py": "",
            "cofin_sdk/models/hub.py": "",
        },
    )
    graph = import_graph(sdk)
    assert graph["cofin_sdk.io.video"] == {"cofin_sdk.results.draw"}
    assert graph["cofin_sdk.results.draw"] == {"cofin_sdk.results.table", "cofin_sdk.io.video"}
    assert upward_imports(graph) == ["cofin_sdk.io.video -> cofin_sdk.results.draw"]
    assert find_cycle(graph) == [
        "cofin_sdk.io.video",
        "cofin_sdk.results.draw",
        "cofin_sdk.io.video",
    ]


def test_checker_finds_a_cycle_between_parts_through_different_modules():
    graph = {
        "cofin_sdk.models.hub": {"cofin_sdk.export.format"},
        "cofin_sdk.export.onnx": {"cofin_sdk.models.vivit"},
        "cofin_sdk.export.format": set(),
        "cofin_sdk.models.vivit": set(),
    }
    assert find_cycle(graph) is None
    assert find_cycle(part_graph(graph)) == ["export", "models", "export"]
