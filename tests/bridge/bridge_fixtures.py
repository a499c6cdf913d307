"""Components of the bridge launch tests (imported through the launch file's pythonpath)."""

from __future__ import annotations

from typing import Any, Mapping

from fleet_msgs import Odom

import robot_gcs as gcs


class OdomTalker(gcs.Component):
    """Publishes Odom("rover1", n, n) on /fodom every 20 ms."""

    publishes = ("/fodom",)

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        self.pub = node.create_publisher("/fodom", Odom)
        self.n = 0
        node.create_timer(0.02, self.tick)

    def tick(self) -> None:
        self.n += 1
        self.pub.publish(Odom("rover1", self.n, float(self.n)))
