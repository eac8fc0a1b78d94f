"""Every import in the repository resolves to the standard library, the project, or a
dependency that pyproject.toml declares (issue 17).

A package that only this machine's system Python ships (scipy was one) passes every
other test here and fails in a user's clean venv; this test fails here instead. It
reads the imports with ``ast`` (module level and inside functions alike), maps each
top-level name to its distribution with ``importlib.metadata.packages_distributions``
and looks that distribution up among the requirements of ``[project]`` and every extra.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[1]

# Names no pip install provides: the Triton server injects this module into the Python
# backend's stub process (serving/python_model.py runs only there).
PROVIDED_BY_RUNTIME = {"triton_python_backend_utils": "Triton's Python backend"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _tracked_python_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        return [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):  # a source tree without git
        return [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts]


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def declared_distributions(pyproject: Path = ROOT / "pyproject.toml") -> set[str]:
    """Canonical names of every distribution in ``dependencies`` and in every extra."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {_canonical(re.match(r"[A-Za-z0-9._-]+", spec).group(0)) for spec in specs}


def undeclared_imports(
    files: list[Path], declared: set[str], root: Path = ROOT
) -> dict[str, list[str]]:
    """``{import name: [files]}`` for imports of ``files`` (under ``root``, whose own
    modules and top-level folders count as the project) that resolve to nothing declared."""
    project_modules = {p.stem for p in files} | {p.relative_to(root).parts[0] for p in files}
    distributions = packages_distributions()
    missing: dict[str, list[str]] = {}
    for path in files:
        for name in _top_level_imports(path):
            if (
                name in sys.stdlib_module_names
                or name in project_modules
                or name in PROVIDED_BY_RUNTIME
            ):
                continue
            # Not installed here (e.g. tensorrt needs a GPU machine): the import name is
            # taken as the distribution name, so it must be declared under that name.
            dists = distributions.get(name, [name])
            if not any(_canonical(d) in declared for d in dists):
                missing.setdefault(name, []).append(str(path.relative_to(root)))
    return missing


def test_every_import_is_declared():
    missing = undeclared_imports(_tracked_python_files(), declared_distributions())
    assert not missing, (
        "imports that no dependency or extra in pyproject.toml declares (a clean venv "
        f"fails on them): {missing}"
    )


def test_an_undeclared_import_is_found(tmp_path):
    """The check can fail: a tree whose files import an undeclared package, a declared
    one, a sibling module and the standard library."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "helper.py").write_text("import json\n")
    (tmp_path / "pkg" / "main.py").write_text(
        "import numpy\nimport helper\n\ndef f():\n    from not_declared_pkg.sub import x\n"
    )
    files = sorted(tmp_path.rglob("*.py"))
    missing = undeclared_imports(files, declared_distributions(), root=tmp_path)
    assert missing == {"not_declared_pkg": ["pkg/main.py"]}
