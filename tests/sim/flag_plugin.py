"""A simulator plug-in for tests: an invariant set that flags every SAFE submission."""

from __future__ import annotations

from typing import Any

from robot_gcs.core.types import Service
from robot_gcs.sim import trace as tr
from robot_gcs.sim.checker import RunRecord, Violation
from robot_gcs.sim.runner import PluginParts

SIM_PLUGIN = True


class NoSafe:
    name = "no_safe"

    def check(self, run: RunRecord) -> list[Violation]:
        return [Violation("no_safe", "a SAFE message was submitted", r.index, r.node)
                for r in run.records
                if r.kind == tr.SUBMIT and r.data.service is Service.SAFE][:1]


def make(options: dict[str, Any], cfg: Any) -> PluginParts:
    return PluginParts(invariant_sets=(NoSafe(),))
