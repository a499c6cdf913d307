"""A session that shows every event it hands out to an observer first.

What it owns: nothing but the wrapped session's reference. ``ObservedSession(inner,
observer)`` is a ``Session`` whose ``receive()`` returns the inner session's events
unchanged, after calling ``observer(event)`` on each -- in the order the daemon
delivered them, transitional views included (a Node drops those before its handlers).

The recorder and the Foxglove server put it under a tool Node: the Node keeps doing its
work (registry, announcements, discovery) and the observer sees the raw stream without a
callback queue in between. Only the thread that spins the Node calls ``receive``.
"""

from __future__ import annotations

from typing import Any, Callable

from ..client.session import Event, Groups, Session
from ..core.types import Service


class ObservedSession(Session):
    """``inner`` with ``observer`` called on each received event (see the module doc)."""

    def __init__(self, inner: Session, observer: Callable[[Event], None]) -> None:
        self.inner = inner
        self.observer = observer
        self.name = inner.name
        self.private_name = inner.private_name

    def join(self, group: str) -> None:
        self.inner.join(group)

    def leave(self, group: str) -> None:
        self.inner.leave(group)

    def multicast(self, groups: Groups, payload: bytes, service: Service = Service.AGREED,
                  msg_type: int = 0, self_discard: bool = False,
                  timeout: float | None = None, local_payload: Any = None,
                  priority: bool = False) -> None:
        self.inner.multicast(groups, payload, service, msg_type, self_discard, timeout,
                             local_payload, priority)

    def receive(self, timeout: float | None = None) -> Event | None:
        ev = self.inner.receive(timeout)
        if ev is not None:
            self.observer(ev)
        return ev

    @property
    def can_wake(self) -> bool:          # type: ignore[override]
        return self.inner.can_wake

    def wake(self) -> None:
        self.inner.wake()

    def close(self) -> None:
        self.inner.close()

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def __getattr__(self, name: str) -> Any:
        # send_private, statistics, ...: whatever else the inner session offers
        return getattr(self.inner, name)
