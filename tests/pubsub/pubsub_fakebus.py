"""An in-memory, totally ordered stand-in for the daemon + sessions, for Node tests.

Every operation is applied at once in call order (that is the total order): joins and
leaves produce GroupViews for the group's members, multicasts deliver a DataMessage to
each member session once. Sessions on the same fake daemon get ``local_payload`` instead
of the bytes, like the real in-process path. Thread-safe (one bus-wide condition), and
``receive(timeout)`` really waits, so nodes can spin on threads.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

from robot_gcs.core.events import Cause, DataMessage, GroupView, private_name
from robot_gcs.core.types import Service
from robot_gcs.errors import SessionClosed


class FakeBus:
    def __init__(self) -> None:
        self.groups: dict[str, list[str]] = {}
        self.sessions: dict[str, "FakeSession"] = {}
        self.view_index = 0
        self.sent: list[tuple[str, tuple[str, ...], Service, Any, int]] = []
        self.cond = threading.Condition()

    def connect(self, name: str, daemon: str = "d1") -> "FakeSession":
        s = FakeSession(self, name, daemon)
        self.sessions[s.private_name] = s
        return s

    def _view(self, group: str, cause: Cause, changed: tuple[str, ...], extra: tuple[str, ...] = ()) -> None:
        self.view_index += 1
        members = tuple(self.groups.get(group, []))
        v = GroupView(group, (1, 1, self.view_index), members, cause, changed)
        for m in members + extra:
            self.sessions[m].inbox.append(v)

    def join(self, s: "FakeSession", group: str) -> None:
        members = self.groups.setdefault(group, [])
        if s.private_name not in members:
            members.append(s.private_name)
            members.sort()
            self._view(group, Cause.JOIN, (s.private_name,))

    def leave(self, s: "FakeSession", group: str, cause: Cause = Cause.LEAVE) -> None:
        members = self.groups.get(group, [])
        if s.private_name in members:
            members.remove(s.private_name)
            self._view(group, cause, (s.private_name,))

    def multicast(self, s: "FakeSession", groups: tuple[str, ...], payload: bytes, service: Service,
                  msg_type: int, self_discard: bool, local_payload: Any) -> None:
        assert isinstance(payload, (bytes, bytearray)), "the ring only carries bytes"
        self.sent.append((s.private_name, groups, service, payload, msg_type))
        targets: list[str] = []
        for g in groups:
            for m in self.groups.get(g, []):
                if m not in targets:
                    targets.append(m)
        for m in sorted(targets):
            if self_discard and m == s.private_name:
                continue
            dest = self.sessions[m]
            body = local_payload if (local_payload is not None and dest.daemon == s.daemon) else bytes(payload)
            dest.inbox.append(DataMessage(s.private_name, tuple(groups), service, body, msg_type))

    def send_private(self, s: "FakeSession", target: str, payload: bytes, service: Service,
                     msg_type: int) -> None:
        assert isinstance(payload, (bytes, bytearray)), "the ring only carries bytes"
        self.sent.append((s.private_name, (target,), service, payload, msg_type))
        dest = self.sessions.get(target)
        if dest is not None and not dest.closed:
            dest.inbox.append(DataMessage(s.private_name, (target,), service, bytes(payload), msg_type))

    def disconnect(self, s: "FakeSession", cause: Cause = Cause.DISCONNECT) -> None:
        for g in sorted(self.groups):
            if s.private_name in self.groups[g]:
                self.leave(s, g, cause)
        s.closed = True


class FakeSession:
    def __init__(self, bus: FakeBus, name: str, daemon: str) -> None:
        self.bus = bus
        self.daemon = daemon
        self.private_name = private_name(name, daemon)
        self.inbox: collections.deque[Any] = collections.deque()
        self.closed = False

    def join(self, group: str) -> None:
        with self.bus.cond:
            self._check()
            self.bus.join(self, group)
            self.bus.cond.notify_all()

    def leave(self, group: str) -> None:
        with self.bus.cond:
            self._check()
            self.bus.leave(self, group)
            self.bus.cond.notify_all()

    def multicast(self, groups: "str | tuple[str, ...]", payload: bytes, service: Service = Service.AGREED,
                  msg_type: int = 0, self_discard: bool = False, timeout: float | None = None,
                  local_payload: Any = None, priority: bool = False) -> None:
        if isinstance(groups, str):
            groups = (groups,)
        with self.bus.cond:
            self._check()
            self.bus.multicast(self, tuple(groups), payload, service, msg_type, self_discard, local_payload)
            self.bus.cond.notify_all()

    def send_private(self, target: str, payload: bytes, service: Service = Service.AGREED,
                     msg_type: int = 0, timeout: float | None = None, priority: bool = False) -> None:
        with self.bus.cond:
            self._check()
            self.bus.send_private(self, target, payload, service, msg_type)
            self.bus.cond.notify_all()

    def receive(self, timeout: float | None = None) -> Any:
        with self.bus.cond:
            self._check()
            if not self.inbox and timeout != 0:
                self.bus.cond.wait_for(lambda: bool(self.inbox) or self.closed, timeout)
            self._check()
            return self.inbox.popleft() if self.inbox else None

    def poll(self) -> bool:
        return bool(self.inbox)

    def close(self) -> None:
        with self.bus.cond:
            if not self.closed:
                self.bus.disconnect(self)
            self.bus.cond.notify_all()

    def _check(self) -> None:
        if self.closed:
            raise SessionClosed()


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@dataclass(frozen=True, slots=True)
class Odom:
    """A typed message for the Node tests."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class OdomV2:
    """Odom with one more field: another type (another fingerprint)."""

    x: float
    y: float
    z: float
