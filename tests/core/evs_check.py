"""A compact EVS checker over netsim logs (the full checker lives in robot_gcs/sim/).

Checks, per node incarnation log: no duplicates, deliveries in (ring seq, seq) order,
configuration agreement (same regular ring id => same members, self-inclusion),
agreement on (ring, seq) of every message delivered by two nodes, virtual synchrony
(same R then same R' => same messages between), and self-delivery at quiescence.
Payloads must be unique in the test.
"""

from __future__ import annotations

from robot_gcs.core.actions import Action, Deliver, DeliverConfig
from robot_gcs.core.types import ConfigKind


def check(logs: dict[tuple[int, int], list[Action]],
          submitted: dict[tuple[int, int], list[bytes]] | None = None,
          alive: list[tuple[int, int]] | None = None) -> list[str]:
    """``logs`` and ``submitted`` are keyed by (node, incarnation)."""
    problems: list[str] = []
    where: dict[bytes, tuple[object, int]] = {}
    ring_members: dict[object, tuple[int, ...]] = {}
    segments: dict[tuple[object, object], dict[int, frozenset[bytes]]] = {}
    for (node, _inc), log in sorted(logs.items()):
        seen: set[bytes] = set()
        last_key = (-1, -1)
        last_regular = None
        current: set[bytes] = set()
        for a in log:
            if isinstance(a, Deliver):
                if a.payload in seen:
                    problems.append(f"node {node}: duplicate {a.payload[:20]!r}")
                seen.add(a.payload)
                key = (a.ring_id.seq, a.seq)
                if key < last_key:
                    problems.append(f"node {node}: order {key} after {last_key}")
                last_key = key
                w = (a.ring_id, a.seq)
                if where.setdefault(a.payload, w) != w:
                    problems.append(f"node {node}: {a.payload[:20]!r} at {w}, "
                                    f"elsewhere at {where[a.payload]}")
                current.add(a.payload)
            elif isinstance(a, DeliverConfig):
                if node not in a.members:
                    problems.append(f"node {node}: config {a.ring_id} without itself")
                if a.kind is ConfigKind.REGULAR:
                    m = ring_members.setdefault(a.ring_id, a.members)
                    if m != a.members:
                        problems.append(f"ring {a.ring_id}: members {a.members} vs {m}")
                    if last_regular is not None:
                        segments.setdefault((last_regular, a.ring_id), {})[(node, _inc)] = \
                            frozenset(current)
                    current = set()
                    last_regular = a.ring_id
    for (r1, r2), per_node in sorted(segments.items(), key=str):
        sets = set(per_node.values())
        if len(sets) > 1:
            problems.append(f"virtual synchrony {r1}->{r2}: nodes {sorted(per_node)} "
                            f"delivered different sets")
    if submitted is not None:
        for node in alive or []:
            got = {a.payload for a in logs.get(node, []) if isinstance(a, Deliver)}
            missing = [m for m in submitted.get(node, []) if m not in got]
            if missing:
                problems.append(f"node {node}: {len(missing)} own messages never delivered")
    return problems
