"""The protocol core stays sans-IO: no module under robot_gcs/core imports I/O, clocks or threads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "robot_gcs" / "core"
FORBIDDEN = {"socket", "threading", "select", "selectors", "time", "asyncio", "yaml", "rich"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value).split(".")[0])
    return found


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_core_has_modules() -> None:
    assert len(CORE_FILES) >= 8


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_imports_no_io(path: Path) -> None:
    bad = _imports(path) & FORBIDDEN
    assert not bad, f"{path.name} imports {sorted(bad)}: the core must stay sans-IO"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    f = tmp_path / "bad.py"
    f.write_text("import os\nfrom time import monotonic\nimport socket as s\n")
    assert _imports(f) & FORBIDDEN == {"time", "socket"}
