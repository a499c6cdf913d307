"""The daemon carries out SetTimer/CancelTimer exactly: a timer moved later fires at the
new deadline (never early, never twice), one moved earlier fires early, a cancelled one
never fires. (The daemon keeps a pending loop handle when a deadline moves later.)"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rt_fakes import QuietEngine, write_config
from robot_gcs.core.actions import CancelTimer, SetTimer
from robot_gcs.core.types import TimerId
from robot_gcs.runtime.daemon import Daemon


class TimerScript(QuietEngine):
    """Engine stand-in: TICK fires a few times, each time re-arming the other timers."""

    def __init__(self) -> None:
        self.fired: list[tuple[TimerId, float, float]] = []    # (timer, now, its deadline)
        self.deadline: dict[TimerId, float] = {}
        self.ticks = 0
        self.done = threading.Event()

    def _set(self, tid: TimerId, deadline: float) -> SetTimer:
        self.deadline[tid] = deadline
        return SetTimer(tid, deadline)

    def start(self, now: float) -> list[Any]:
        return [self._set(TimerId.TOKEN_LOSS, now + 0.40),      # moved later at each TICK
                self._set(TimerId.CONSENSUS, now + 5.0),        # moved earlier at TICK 1
                self._set(TimerId.JOIN, now + 0.30),            # cancelled at TICK 1
                self._set(TimerId.TICK, now + 0.02)]

    def handle_timer(self, now: float, tid: TimerId) -> list[Any]:
        self.fired.append((tid, now, self.deadline.pop(tid)))
        if tid is TimerId.TOKEN_LOSS:
            self.done.set()
        if tid is not TimerId.TICK:
            return []
        self.ticks += 1
        out: list[Any] = []
        if self.ticks <= 5:
            out.append(self._set(TimerId.TOKEN_LOSS, now + 0.40))
            out.append(self._set(TimerId.TICK, now + 0.02))
        if self.ticks == 1:
            out.append(self._set(TimerId.CONSENSUS, now + 0.05))
            self.deadline.pop(TimerId.JOIN)
            out.append(CancelTimer(TimerId.JOIN))
        return out


def test_moved_and_cancelled_timers_fire_exactly_once_at_their_current_deadline(
        tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 1)
    script = TimerScript()
    d = Daemon(cfg, "d1", engine_factory=lambda *a: script, serve_clients=False, health=False)
    with d:
        assert script.done.wait(10.0), f"TOKEN_LOSS never fired: {script.fired}"
    by_id: dict[TimerId, list[tuple[float, float]]] = {}
    for tid, now, deadline in script.fired:
        assert now >= deadline, f"{tid} fired {deadline - now:.4f}s before its deadline"
        by_id.setdefault(tid, []).append((now, deadline))
    assert len(by_id[TimerId.TOKEN_LOSS]) == 1
    assert len(by_id[TimerId.CONSENSUS]) == 1
    assert TimerId.JOIN not in by_id
    loss_at, cons_at = by_id[TimerId.TOKEN_LOSS][0][0], by_id[TimerId.CONSENSUS][0][0]
    assert cons_at < loss_at, "the timer moved earlier fired before the 0.4 s one"
    assert script.ticks == 6
