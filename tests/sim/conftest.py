"""Big simulator sweeps are marked slow and run only when asked for.

``pytest -m slow`` (or ROBOT_GCS_SLOW=1) runs them; a plain ``pytest`` skips the slow
sweeps of this directory so the default run stays short. ``robot-gcs sim`` runs any
sweep size from the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = "slow" in (config.option.markexpr or "") or os.environ.get("ROBOT_GCS_SLOW")
    if asked:
        return
    skip = pytest.mark.skip(reason="big simulator sweep: run with -m slow or ROBOT_GCS_SLOW=1")
    for item in items:
        if item.get_closest_marker("slow") and HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)
