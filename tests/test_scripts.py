"""The reproduction scripts in ``scripts/`` still match the package they call.

The scripts are run by hand (each report names its command), not by the suite, so a
refactor that moves or renames a function would break them silently. This test reads
every script's source and resolves, without running the script, each name it imports from
``faceattrs`` (at the top or inside a function), each attribute it reads from an imported
``faceattrs`` module, and each name it imports from a sibling script or ``bench/`` helper.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
HELPER_DIRS = (ROOT / "scripts", ROOT / "bench")  # folders the scripts put on sys.path


@functools.cache  # several scripts import from the same helper: read and parse it once
def _top_level_names(path: Path) -> frozenset[str]:
    """Names a module defines at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:  # A = ... and A, B = ...
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def _helper(module: str) -> Path | None:
    for folder in HELPER_DIRS:
        if (folder / f"{module}.py").is_file():
            return folder / f"{module}.py"
    return None


def _resolve(module: str, name: str) -> object:
    """``from module import name``: the attribute, or the submodule of that name."""
    imported = importlib.import_module(module)
    if hasattr(imported, name):
        return getattr(imported, name)
    return importlib.import_module(f"{module}.{name}")


def unresolved_names(path: Path) -> list[str]:
    """What the script at ``path`` imports or reads from faceattrs or a helper, yet is not there."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems: list[str] = []
    modules: dict[str, ModuleType] = {}  # local name -> imported faceattrs module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            for alias in node.names:
                where = f"{path.name}:{node.lineno}: from {node.module} import {alias.name}"
                if root == "faceattrs":
                    try:
                        value = _resolve(node.module, alias.name)
                    except ImportError:
                        problems.append(where)
                        continue
                    if isinstance(value, ModuleType):
                        modules[alias.asname or alias.name] = value
                elif (helper := _helper(root)) is not None:
                    if alias.name not in _top_level_names(helper):
                        problems.append(where)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "faceattrs":
                    continue
                try:
                    module = importlib.import_module(alias.name)
                except ImportError:
                    problems.append(f"{path.name}:{node.lineno}: import {alias.name}")
                    continue
                if alias.asname:
                    modules[alias.asname] = module
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and not hasattr(modules[node.value.id], node.attr)
        ):
            problems.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    return problems


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_names_resolve(path: Path) -> None:
    assert unresolved_names(path) == []


def test_a_moved_function_is_caught(tmp_path: Path) -> None:
    script = tmp_path / "old_script.py"
    script.write_text(
        "from faceattrs.evaluation import cross\n"
        "def main():\n"
        "    from faceattrs.spec import ModelSpec, NoSuchSpec\n"
        "    from compare_histories import no_such_helper\n"
        "    return cross.no_such_function, ModelSpec, NoSuchSpec\n",
        encoding="utf-8",
    )
    assert unresolved_names(script) == [
        "old_script.py:3: from faceattrs.spec import NoSuchSpec",
        "old_script.py:4: from compare_histories import no_such_helper",
        "old_script.py:5: cross.no_such_function",
    ]
