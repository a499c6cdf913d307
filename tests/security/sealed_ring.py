"""Pieces the sealed-ring tests share: a tap on a daemon's sealer that keeps the
datagrams it sealed, and sessions joined to one group with the full view seen."""

from __future__ import annotations

from typing import Any

from robot_gcs import GroupView
from robot_gcs.runtime.daemon import Daemon


class SealTap:
    """Wraps a transport's sealer; keeps the first ``limit`` datagrams it seals in
    ``kept`` (a list the caller may share between taps). Set as
    ``daemon.transport.sealer``; only that daemon's loop thread calls it."""

    def __init__(self, inner: Any, kept: list[bytes] | None = None,
                 limit: int = 5000) -> None:
        self.inner = inner
        self.kept: list[bytes] = [] if kept is None else kept
        self.limit = limit

    def seal(self, packet: bytes, dest: int = 0) -> bytes:
        data = self.inner.seal(packet, dest)
        if len(self.kept) < self.limit:
            self.kept.append(data)
        return data

    def open(self, data: bytes) -> bytes | None:
        return self.inner.open(data)


def wait_for_view(session: Any, members: int, timeout: float) -> None:
    """Read ``session`` until a regular view with ``members`` members."""
    while True:
        ev = session.receive(timeout=timeout)
        assert ev is not None, f"{session.private_name}: no view of {members}"
        if isinstance(ev, GroupView) and not ev.transitional and len(ev.members) == members:
            return


def joined_sessions(daemons: list[Daemon], group: str, timeout: float) -> list[Any]:
    """One session per (started) daemon, all in ``group``, each having seen the full view."""
    sessions = []
    for d in daemons:
        s = d.connect("c")
        s.join(group)
        sessions.append(s)
    for s in sessions:
        wait_for_view(s, len(daemons), timeout)
    return sessions
