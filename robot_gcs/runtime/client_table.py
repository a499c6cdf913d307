"""ClientTable: which clients are attached to a daemon, and the names still leaving.

Theory of operation
-------------------
A client is attached under a name (``attach``) with a *sink*, the object that takes its
events: the in-process session's queue (client/inprocess.py) or a socket connection
(runtime/ipc.py). The table maps the name to the client's ``ClientHandle``
(runtime/clients.py).

A closed client's name is not free at once: its last events may still be in the total
order (the engine orders its G_KILL behind them), and a new client of that name would be
handed them. The name stays *leaving* until the engine says the disconnect is ordered
(``ClientGone``, core/groups.py, carried out by runtime/engine_host.py as ``released``).
``attach`` waits for a leaving name up to its ``wait`` (a program that closes and
reopens a session under the same name just works); with no wait left it raises
``ClientNameBusy``, which a socket server turns into a retry.

Owner: the maps and ``closed_reason`` are guarded by ``_cond``; any thread may call
``attach``/``forget``/``released``/``snapshot``. ``get`` reads without the lock (a dict
read, atomic in CPython) for the delivery path, run by the holder of the engine lock.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Protocol

from ..errors import LocalProtocolError, SessionClosed
from .clients import ClientHandle

__all__ = ["ClientTable", "ClientNameBusy", "Sink"]


class Sink(Protocol):
    """Where a client's events go; ``push`` runs on the engine lock holder, never blocks."""

    kind: str                 # "inprocess", "ipc", ...
    local_objects: bool       # may get a sender's local_payload object as it is
    high_water: int
    dropped: int

    def push(self, event: Any) -> bool: ...        # False: overflow, detach the client
    def closed(self, reason: str) -> None: ...     # the daemon ended the client
    def queue_depth(self) -> int: ...


class ClientNameBusy(LocalProtocolError):
    """The name belongs to a client whose disconnect is not ordered yet; retry shortly."""


class ClientTable:
    """Attached clients by name, plus names whose disconnect is still being ordered."""

    def __init__(self, daemon_name: str) -> None:
        self.daemon_name = daemon_name
        self._cond = threading.Condition()
        self._clients: dict[str, ClientHandle] = {}
        self._leaving: set[str] = set()
        self.closed_reason: str | None = None

    def attach(self, name: str, make: Callable[[], ClientHandle], wait: float) -> ClientHandle:
        """Register the handle ``make()`` builds under ``name`` (any thread).

        Waits up to ``wait`` seconds for a leaving name; raises ``ClientNameBusy`` when
        it is still leaving then, ``LocalProtocolError`` when a live client has it,
        ``SessionClosed`` once the daemon stops.
        """
        deadline = time.monotonic() + wait
        with self._cond:
            while name in self._leaving and self.closed_reason is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ClientNameBusy(
                        f"client name {name!r} on daemon {self.daemon_name} belongs to a "
                        "session whose disconnect is not ordered yet; retry shortly")
                self._cond.wait(left)
            if self.closed_reason is not None:
                raise SessionClosed(self.closed_reason)
            if name in self._clients:
                raise LocalProtocolError(f"client name {name!r} is already in use on "
                                         f"daemon {self.daemon_name}")
            h = make()
            self._clients[name] = h
            return h

    def get(self, name: str) -> ClientHandle | None:
        return self._clients.get(name)

    def forget(self, h: ClientHandle) -> bool:
        """``h`` is closing: it leaves the table and its name is leaving. False when it
        was not attached (any more)."""
        with self._cond:
            if self._clients.get(h.name) is not h:
                return False
            del self._clients[h.name]
            self._leaving.add(h.name)
            return True

    def released(self, name: str) -> None:
        """The engine ordered the disconnect of ``name`` (or refused it): free the name."""
        with self._cond:
            if name in self._leaving:
                self._leaving.discard(name)
                self._cond.notify_all()

    def snapshot(self) -> list[ClientHandle]:
        """The attached clients, sorted by name."""
        with self._cond:
            return [self._clients[n] for n in sorted(self._clients)]

    def close(self, reason: str) -> list[ClientHandle]:
        """The daemon stops: no more attaches; returns the clients still attached."""
        with self._cond:
            self.closed_reason = reason
            out = [self._clients[n] for n in sorted(self._clients)]
            self._clients.clear()
            self._leaving.clear()
            self._cond.notify_all()
            return out
