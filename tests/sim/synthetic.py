"""Hand-written traces for checker tests: a good baseline and ways to break it."""

from __future__ import annotations

from dataclasses import dataclass, field

from robot_gcs.core.actions import Deliver, DeliverConfig
from robot_gcs.core.params import ProtocolParams
from robot_gcs.core.types import ConfigKind, NodeId, RingId, Service
from robot_gcs.sim import trace as tr
from robot_gcs.sim.checker import LivenessWindow, RunRecord
from robot_gcs.sim.trace import Record, SubmitInfo
from robot_gcs.sim.workload import make_payload

import random


@dataclass
class TraceBuilder:
    records: list[Record] = field(default_factory=list)
    t: float = 0.0
    counters: dict[tuple[int, int], int] = field(default_factory=dict)
    inc: dict[int, int] = field(default_factory=dict)

    def _add(self, node: int, kind: str, data: object, inc: int | None = None) -> Record:
        self.t += 0.001
        r = Record(len(self.records), self.t, node, self.inc.get(node, 1) if inc is None else inc,
                   kind, data)
        self.records.append(r)
        return r

    def at(self, t: float) -> "TraceBuilder":
        self.t = t
        return self

    def start(self, node: int, persisted: int | None = None) -> None:
        self.inc[node] = self.inc.get(node, 0) + 1
        self._add(node, tr.START, persisted)

    def crash(self, node: int) -> None:
        self._add(node, tr.CRASH, None)

    def persist(self, node: int, seq: int) -> None:
        self._add(node, tr.PERSIST, seq)

    def submit(self, node: int, service: Service = Service.AGREED, lane: object = None) -> bytes:
        inc = self.inc[node]
        c = self.counters.get((node, inc), 0)
        self.counters[(node, inc)] = c + 1
        payload = make_payload(node, inc, c, 40, random.Random(node * 1000 + c))
        self._add(node, tr.SUBMIT, SubmitInfo(payload, service, c, lane))
        return payload

    def deliver(self, node: int, sender: int, payload: bytes, ring: RingId, seq: int,
                trans: bool = False, service: Service = Service.AGREED,
                sender_inc: int | None = None) -> None:
        d = Deliver(NodeId(sender), self.inc.get(sender, 1) if sender_inc is None else sender_inc,
                    payload, service, ring, seq, trans)
        self._add(node, tr.DELIVER, d)

    def config(self, node: int, kind: ConfigKind, ring: RingId, members: tuple[int, ...],
               left: tuple[int, ...] = (), joined: tuple[int, ...] = ()) -> None:
        self._add(node, tr.CONFIG, DeliverConfig(kind, ring, tuple(NodeId(m) for m in members),
                                                 tuple(NodeId(m) for m in left),
                                                 tuple(NodeId(m) for m in joined)))

    def problem(self, node: int, kind: str, text: str) -> None:
        self._add(node, kind, text)

    def run(self, windows: tuple[LivenessWindow, ...] = (), quiescent: bool = True) -> RunRecord:
        return RunRecord(0, (1, 2, 3), ProtocolParams(), self.records, self.t + 1.0, windows,
                         quiescent)


R1 = RingId(1, 4)
R2 = RingId(1, 8)
R3 = RingId(3, 8)
REG = ConfigKind.REGULAR
TRANS = ConfigKind.TRANSITIONAL


class Baseline:
    """Three nodes form R1; n1 and n2 deliver m1 (AGREED) and m2 (SAFE); n3 crashes; n1
    and n2 deliver m3 in the transitional configuration and install R2, where m4 goes.
    Every step can be overridden by a test to inject one fault."""

    def __init__(self) -> None:
        self.b = TraceBuilder()

    def build(self, *, skip: set[str] = frozenset(), extra_r2: list = (), windows: bool = True,
              n3_crashes: bool = True) -> RunRecord:
        b = self.b
        for n in (1, 2, 3):
            b.start(n)
        for n in (1, 2, 3):
            b.persist(n, 4)
            b.config(n, REG, R1, (1, 2, 3))
        self.m1 = b.submit(1)
        self.m2 = b.submit(2, Service.SAFE)
        for n in (1, 2, 3):
            b.deliver(n, 1, self.m1, R1, 1)
            if not (n == 3 and "n3_m2" in skip):
                b.deliver(n, 2, self.m2, R1, 2, service=Service.SAFE)
        self.m3 = b.submit(1)
        if n3_crashes:
            b.crash(3)
        else:
            b.persist(3, 8)
            b.config(3, TRANS, R3, (3,), left=(1, 2))
            b.config(3, REG, R3, (3,))
        for n in (1, 2):
            b.persist(n, 8)
            b.config(n, TRANS, R2, (1, 2), left=(3,))
            if not (n == 2 and "n2_m3" in skip):
                b.deliver(n, 1, self.m3, R1, 3, trans=True)
            b.config(n, REG, R2, (1, 2))
        b.at(2.5)
        self.m4 = b.submit(1)
        for n in (1, 2):
            b.deliver(n, 1, self.m4, R2, 1)
        for step in extra_r2:
            step(b)
        b.at(5.0)
        ws = (LivenessWindow(1.5, 3.0, 3.0, 4.0, ((1, 2),)),) if windows else ()
        return b.run(ws)
