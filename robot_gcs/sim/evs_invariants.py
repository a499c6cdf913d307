"""The EVS invariants of a configuration change: 6 virtual synchrony and 9 safe delivery.

Owns two checks of PROTOCOL.md section 6.2, run by ``ring_invariants.RingInvariants``
and reading only observations through ``checker.Analysis``:

* **Virtual synchrony, same route**: lives that go from regular R to the same next
  regular R' deliver equal sets in R, the same transitional configuration T and equal
  sets in T (EVS failure atomicity).
* **Virtual synchrony across routes**: when p goes R -> T -> R', every member q of T
  that does not crash delivers, in R or in the transitional configuration that follows
  R *at q* (whatever q installed next), every message p delivered in R and in T. T
  says "these members leave R together holding the same messages"; a member that
  drops out of the recovery keeps them (``core/PROTOCOL_NOTES.md``), so T never lists
  a member that goes on without them.
* **Safe delivery (strict)**: SAFE m delivered in regular R => every member of R that
  does not crash delivers m (in R or its T); SAFE m delivered in T => every member of T
  that does not crash delivers m, whatever configuration it installed next
  (PROTOCOL.md section 3.1 item 8, read literally).

"Does not crash" means the life that installed R never ended (crash or leave). Both
checks run only on quiescent runs (a stable tail gave everyone time to install).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..core.types import Service
from .checker import (SAFE_DELIVERY, VIRTUAL_SYNCHRONY, Analysis, Life, MsgKey, Segment,
                      Violation, keys_of, msg_key, sorted_lives, violation_at)

_v = violation_at


class _Held:
    """Per segment: the messages its life delivered in R and in the T after R."""

    def __init__(self) -> None:
        self._held: dict[int, set[MsgKey]] = {}

    def __call__(self, seg: Segment) -> set[MsgKey]:
        got = self._held.get(id(seg))
        if got is None:
            got = self._held[id(seg)] = keys_of(seg.in_r) | keys_of(seg.in_t)
        return got


def member_segments(a: Analysis) -> Iterator[tuple[int, Segment, Any]]:
    """(node, segment, regular ring id) of every segment that starts with a regular ring."""
    for life in sorted_lives(a):
        for seg in life.segments:
            if seg.regular is not None:
                yield life.key[0], seg, seg.regular.data.ring_id


def survivors(a: Analysis, p: int, members: Iterable[int], ring_id: Any
              ) -> Iterator[tuple[int, Segment]]:
    """The members but ``p`` whose life that installed ``ring_id`` never ended, with
    their segment of that ring."""
    for q in members:
        if q == p:
            continue
        for life in a.installed.get(ring_id, ()):
            if life.key[0] == q and not life.crashed:
                seg = a.segment_of(life, ring_id)
                if seg is not None:
                    yield q, seg
                break


def virtual_synchrony(a: Analysis) -> list[Violation]:
    return same_route(a) + across_routes(a)


def same_route(a: Analysis) -> list[Violation]:
    out = []
    ref: dict[tuple[Any, Any], tuple[Life, Segment]] = {}
    for life in sorted_lives(a):
        for seg in life.segments:
            if seg.regular is None or seg.next_regular is None or seg.trans is None:
                continue
            key = (seg.regular.data.ring_id, seg.next_regular.data.ring_id)
            if key not in ref:
                ref[key] = (life, seg)
                continue
            olife, oseg = ref[key]
            where = seg.next_regular
            assert oseg.trans is not None
            pair = f"n{life.key[0]} and n{olife.key[0]}"
            if keys_of(seg.in_r) != keys_of(oseg.in_r):
                diff = len(keys_of(seg.in_r) ^ keys_of(oseg.in_r))
                out.append(_v(VIRTUAL_SYNCHRONY, where, f"{pair} went {key[0]} -> {key[1]} but "
                              f"delivered different sets in {key[0]} ({diff} messages differ)"))
            if tuple(seg.trans.data.members) != tuple(oseg.trans.data.members):
                out.append(_v(VIRTUAL_SYNCHRONY, where, f"{pair} went {key[0]} -> {key[1]} with "
                              f"different transitional configurations "
                              f"{list(seg.trans.data.members)} vs {list(oseg.trans.data.members)}"))
            elif keys_of(seg.in_t) != keys_of(oseg.in_t):
                diff = len(keys_of(seg.in_t) ^ keys_of(oseg.in_t))
                out.append(_v(VIRTUAL_SYNCHRONY, where, f"{pair} delivered different sets in "
                              f"the transitional configuration between {key[0]} and {key[1]} "
                              f"({diff} messages differ)"))
    return out


def across_routes(a: Analysis) -> list[Violation]:
    out: list[Violation] = []
    if not a.run.quiescent:
        return out
    held = _Held()
    for p, seg, rid in member_segments(a):
        if seg.trans is None or seg.next_regular is None:
            continue
        mine = held(seg)
        for q, qseg in survivors(a, p, seg.trans.data.members, rid):
            if qseg.next_regular is None:
                continue              # never left R: liveness reports that
            missing = mine - held(qseg)
            if missing:
                out.append(_v(VIRTUAL_SYNCHRONY, seg.next_regular,
                              f"n{q} is in the transitional configuration "
                              f"{list(seg.trans.data.members)} n{p} delivered leaving {rid}, "
                              f"but (leaving it for {qseg.next_regular.data.ring_id}) never "
                              f"delivered {len(missing)} of the messages n{p} delivered in "
                              f"{rid} and that configuration"))
    return out


def safe_delivery(a: Analysis) -> list[Violation]:
    out: list[Violation] = []
    if not a.run.quiescent:
        return out
    held = _Held()
    for p, seg, rid in member_segments(a):
        for in_t, recs in ((False, seg.in_r), (True, seg.in_t)):
            conf = seg.trans if in_t and seg.trans is not None else seg.regular
            assert conf is not None
            for r in recs:
                if r.data.service is not Service.SAFE:
                    continue
                k = msg_key(r.data)
                for q, qseg in survivors(a, p, conf.data.members, rid):
                    if k not in held(qseg):
                        where = "the transitional configuration after " if in_t else "ring "
                        out.append(_v(SAFE_DELIVERY, r, f"SAFE message of n{k[0]}/{k[1]} "
                                      f"delivered by n{p} in {where}{rid} "
                                      f"{list(conf.data.members)} but never by member n{q}, "
                                      f"which did not crash"))
    return out
