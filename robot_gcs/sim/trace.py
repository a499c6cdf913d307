"""What a simulation run records: observations for the checker and a trace for humans.

Owns the ``Record`` value and ``TraceLog``. Observations are the externally visible
events the invariants of PROTOCOL.md section 6.2 talk about: submissions, deliveries,
configuration changes, node lives (start/crash/leave), engine exceptions and bound
breaches. They are kept in full (the checker needs them all). Packet-level events
(send, drop, arrival, timer) only feed a running SHA-256 hash, a short ring buffer for
violation excerpts, and -- when asked -- a live printer (``robot-gcs sim --trace``).

Two runs with the same seed must produce the same hash: tests compare them.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

# Observation kinds (checker input)
SUBMIT = "submit"          # data: SubmitInfo
DELIVER = "deliver"        # data: actions.Deliver
CONFIG = "config"          # data: actions.DeliverConfig
START = "start"            # data: persisted ring seq (int | None) handed to the new life
CRASH = "crash"            # data: None (volatile state lost)
LEAVE = "leave"            # data: None (graceful leave, then stopped)
ERROR = "error"            # data: str (an exception escaped the engine)
BOUND = "bound"            # data: str (a boundedness limit was exceeded)
STATE = "state"            # data: str "OLD->NEW" membership state change (context only)
PERSIST = "persist"        # data: int ring seq written to the durable store

OBSERVED = frozenset({SUBMIT, DELIVER, CONFIG, START, CRASH, LEAVE, ERROR, BOUND, STATE, PERSIST})


@dataclass(frozen=True, slots=True)
class SubmitInfo:
    """One accepted submission: the exact bytes and the service asked for."""

    payload: bytes
    service: Any       # core.types.Service
    counter: int       # per (node, incarnation) submission counter, from 0
    lane: Any = None   # core.types.Lane; FIFO is per lane (CONTROL may overtake NORMAL)


@dataclass(frozen=True, slots=True)
class Record:
    index: int
    time: float
    node: int
    inc: int
    kind: str
    data: Any

    def describe(self) -> str:
        d = self.data
        if self.kind == DELIVER:
            txt = (f"from {d.sender}/{d.incarnation} {d.service.name} ring {d.ring_id} "
                   f"seq {d.seq}{' T' if d.in_transitional else ''} {_short(d.payload)}")
        elif self.kind == CONFIG:
            txt = (f"{d.kind.name} ring {d.ring_id} members {list(d.members)} "
                   f"left {list(d.left)} joined {list(d.joined)}")
        elif self.kind == SUBMIT:
            txt = f"#{d.counter} {d.service.name} {len(d.payload)}B {_short(d.payload)}"
        else:
            txt = "" if d is None else str(d)
        return f"{self.time:10.6f} n{self.node}/{self.inc} {self.kind:7} {txt}"


def _short(payload: bytes) -> str:
    return payload[:16].hex() + ("..." if len(payload) > 16 else "")


class TraceLog:
    """Collects observations in full, hashes everything, keeps a recent-context window."""

    def __init__(self, printer: Callable[[str], None] | None = None, context: int = 40) -> None:
        self.records: list[Record] = []
        self._hash = hashlib.sha256()
        self._recent: deque[str] = deque(maxlen=context)
        self._printer = printer

    def observe(self, time: float, node: int, inc: int, kind: str, data: Any) -> Record:
        rec = Record(len(self.records), time, node, inc, kind, data)
        self.records.append(rec)
        line = rec.describe()
        self._line(line)
        return rec

    def event(self, time: float, text: str) -> None:
        """A packet-level or fault event: hashed and shown, not kept."""
        self._line(f"{time:10.6f} {text}")

    def _line(self, line: str) -> None:
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        self._recent.append(line)
        if self._printer is not None:
            self._printer(line)

    def digest(self) -> str:
        return self._hash.hexdigest()

    def recent(self) -> list[str]:
        return list(self._recent)


def excerpt(records: list[Record], index: int, before: int = 8, after: int = 4,
            node: int | None = None) -> list[str]:
    """Lines around record ``index`` (optionally only those of one node plus config events)."""
    lo = max(0, index - before * 4 if node is not None else index - before)
    hi = min(len(records), index + (after * 4 if node is not None else after) + 1)
    picked = [r for r in records[lo:hi]
              if node is None or r.node == node or r.index == index or r.kind in (CRASH, START)]
    # keep at most before+after+1 lines centred on index
    pos = next((i for i, r in enumerate(picked) if r.index == index), 0)
    picked = picked[max(0, pos - before): pos + after + 1]
    return [("> " if r.index == index else "  ") + r.describe() for r in picked]
