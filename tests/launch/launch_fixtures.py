"""Components and message types used by the launch tests (imported via the launch file's pythonpath)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Mapping

import robot_gcs as gcs


@dataclass(frozen=True, slots=True)
class Ping:
    n: int


class Talker(gcs.Component):
    publishes = ("/ping",)
    params = {"rate_hz": 10.0}

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        self.pub = node.create_publisher("/ping", Ping)


class Undeclared(gcs.Component):
    publishes = ("/nowhere",)


class Crasher(gcs.Component):
    """Raises from its first timer callback; counts constructions."""

    built = 0
    built_event = threading.Event()
    params = {"period": 0.01}

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        type(self).built += 1
        if type(self).built >= 3:
            type(self).built_event.set()
        node.create_timer(float(self.config["period"]), self.boom)

    def boom(self) -> None:
        raise RuntimeError("sensor driver crashed")


class Quitter(gcs.Component):
    """Stops its own node on the first timer tick (a clean exit)."""

    built = 0

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        type(self).built += 1
        node.create_timer(0.01, node.stop)


NOT_A_CLASS = 3
