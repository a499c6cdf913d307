"""Running an election on a node: ``Node.create_election``.

What it owns: wiring one ``ActiveStandby`` (election.py, the pure state machine) to a
node's group: the group handler feeds it the group's views and messages in delivery
order, its outgoing STATE/HELLO messages are multicast to the group, and whenever the
active member changes the node re-announces itself in the registry (so consoles show
who leads) and the caller's ``on_change(active)`` runs.

Rule: candidates are required. Without them there is no start barrier, and processors
that start as separate rings would each elect a leader before the rings merge.

Owner: the node's spinning thread (the handler runs among its callbacks).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol

from ..core.events import GroupView
from ..errors import LocalProtocolError
from .election import ActiveStandby


class ElectionHost(Protocol):
    """What an election needs of its Node."""

    @property
    def name(self) -> str: ...

    @property
    def private_name(self) -> str: ...

    def join_group(self, group: str, callback: Callable[[Any], Any]) -> None: ...

    def multicast(self, group: str, payload: bytes) -> None: ...

    def _announce(self) -> None: ...


def run_election(host: ElectionHost, group: str, candidates: Iterable[str],
                 extra: Callable[[], dict[str, Any]] | None,
                 on_change: Callable[[str | None], Any] | None) -> ActiveStandby:
    cands = tuple(candidates)
    if not cands:
        raise LocalProtocolError(
            f"node {host.name}: an election of {group!r} needs its candidates (private "
            "names such as '#controller#cpu1'): without them every processor that starts "
            "alone elects itself before the rings merge")
    election = ActiveStandby(host.private_name, cands, extra=extra)

    def on_event(ev: Any) -> None:
        before = election.active
        if isinstance(ev, GroupView):
            outs = election.on_view(ev.view_id, ev.members)
        else:
            outs = election.on_message(ev.sender, bytes(ev.payload))
        for o in outs:
            host.multicast(group, o.payload)
        if election.active != before:
            host._announce()
            if on_change is not None:
                on_change(election.active)
    host.join_group(group, on_event)
    return election
