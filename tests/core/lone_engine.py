"""Driving one Engine by hand in a test: its timers fire in deadline order up to a
time, nobody else answers (the packets it sends go nowhere)."""

from __future__ import annotations

from robot_gcs.core.actions import CancelTimer, SetTimer
from robot_gcs.core.engine import Engine


class LoneEngine:
    """``follow(actions)`` records the timers an engine call set or cancelled;
    ``run_until(t)`` fires every timer due by ``t``. Owner: the test that made it."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.timers: dict[object, float] = {}

    def follow(self, actions: list[object]) -> None:
        for a in actions:
            if isinstance(a, SetTimer):
                self.timers[a.timer_id] = a.deadline
            elif isinstance(a, CancelTimer):
                self.timers.pop(a.timer_id, None)

    def run_until(self, t: float) -> None:
        while self.timers and min(self.timers.values()) <= t:
            tid = min(self.timers, key=self.timers.__getitem__)
            self.follow(self.e.handle_timer(self.timers.pop(tid), tid))  # type: ignore[arg-type]

    def packet(self, now: float, data: bytes) -> None:
        self.follow(self.e.handle_packet(now, None, data))
        self.run_until(now)
