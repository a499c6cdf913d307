"""Component authors need only ``import robot_gcs as gcs``: the examples and every component a
launch file names use the curated public names, never a submodule."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import robot_gcs as gcs
from robot_gcs.launch import load_launch

ROOT = Path(__file__).resolve().parent.parent


def _launch_modules() -> set[Path]:
    """Files of the component classes and message types named by launch/*.yaml."""
    files: set[Path] = set()
    for yml in sorted((ROOT / "launch").glob("*.yaml")):
        lf = load_launch(str(yml))
        classes = [c.cls for p in lf.processors for c in p.components]
        classes += [t.msg_type for t in lf.topics if t.msg_type is not None]
        files |= {Path(inspect.getfile(c)).resolve() for c in classes}
    return files


COMPONENT_FILES = sorted({*(p.resolve() for p in (ROOT / "examples").rglob("*.py")),
                          (ROOT / "tests" / "launch" / "launch_fixtures.py").resolve(),
                          *_launch_modules()})


def private_uses(source: str) -> list[str]:
    """Imports of robot_gcs submodules and names not in ``gcs.__all__``, as 'line: what'."""
    tree = ast.parse(source)
    aliases = set()
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("robot_gcs."):
                    bad.append(f"{node.lineno}: import {a.name}")
                elif a.name == "robot_gcs":
                    aliases.add(a.asname or a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("robot_gcs."):
                bad.append(f"{node.lineno}: from {node.module} import ...")
            elif node.module == "robot_gcs":
                bad += [f"{node.lineno}: from robot_gcs import {a.name}" for a in node.names
                        if a.name not in gcs.__all__]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr not in gcs.__all__:
            bad.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return bad


def test_every_public_name_resolves_and_is_listed_once() -> None:
    assert len(gcs.__all__) == len(set(gcs.__all__))
    missing = [n for n in gcs.__all__ if not hasattr(gcs, n)]
    assert not missing


def test_the_launch_files_name_the_example_components() -> None:
    assert any("examples" in f.parts for f in _launch_modules())


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=lambda p: p.name)
def test_component_code_uses_the_public_api_only(path: Path) -> None:
    bad = private_uses(path.read_text())
    assert not bad, f"{path.relative_to(ROOT)} reaches past `import robot_gcs as gcs`: {bad}"


@pytest.mark.parametrize("source", [
    "from robot_gcs.pubsub.election import ActiveStandby\n",
    "import robot_gcs.launch.model\n",
    "import robot_gcs as gcs\nx = gcs.runtime\n",
    "from robot_gcs import pubsub\n",
])
def test_the_check_catches_a_submodule(source: str) -> None:
    assert private_uses(source)

