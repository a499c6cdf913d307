"""The ring invariant set: PROTOCOL.md section 6.2 items 1-9, 11 and 12, on a trace.

Owns ``RingInvariants``, an ``InvariantSet`` (checker.py) that runs every ring check,
and the checks that look at one node's delivery stream or one configuration at a
time. Each reads only observations through ``checker.Analysis``:

1 integrity, 2 no duplication, 3 total order (acyclic "delivered before" over all nodes
incl. configuration events; seq order within a ring; one position per message),
4 FIFO per sender life and lane (prefix per ring, submission order, no message of the
sender skipped within a ring), 5 configuration
agreement (same ring id same members, self-inclusion, T within R and R', left/joined,
ring seqs rising and persisted first), 7 delivered where sent, 8 self-delivery at
quiescence, 12 boundedness (engine exceptions, limits exceeded). Items 6 and 9 live in
``evs_invariants.py``, 11 and progress under loss in ``progress_invariants.py``; the
invariant names in ``checker.py`` (re-exported here).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from ..core.types import ConfigKind, Service
from . import trace as tr
from . import evs_invariants, progress_invariants
from .checker import (BOUNDEDNESS, CONFIG_AGREEMENT, DELIVERED_WHERE_SENT, FIFO, INTEGRITY,
                      LIVENESS, NO_DUPLICATION, PROGRESS, RING_INVARIANTS, SAFE_DELIVERY,
                      SELF_DELIVERY, TOTAL_ORDER, VIRTUAL_SYNCHRONY, Analysis, MsgKey,
                      RunRecord, Violation, keys_of, msg_key, sorted_lives, violation_at)
from .trace import Record

_v = violation_at


class RingInvariants:
    """PROTOCOL.md section 6.2 items 1-9, 11 and 12."""

    name = "ring"

    def __init__(self, only: Iterable[str] | None = None) -> None:
        self.only = set(only) if only is not None else set(RING_INVARIANTS)

    def check(self, run: RunRecord) -> list[Violation]:
        a = Analysis(run)
        out: list[Violation] = []
        checks = {
            INTEGRITY: self.integrity, NO_DUPLICATION: self.no_duplication,
            TOTAL_ORDER: self.total_order, FIFO: self.fifo,
            CONFIG_AGREEMENT: self.config_agreement,
            VIRTUAL_SYNCHRONY: evs_invariants.virtual_synchrony,
            DELIVERED_WHERE_SENT: self.delivered_where_sent, SELF_DELIVERY: self.self_delivery,
            SAFE_DELIVERY: evs_invariants.safe_delivery, LIVENESS: progress_invariants.liveness,
            PROGRESS: progress_invariants.progress, BOUNDEDNESS: self.boundedness,
        }
        for name in RING_INVARIANTS:
            if name in self.only:
                out.extend(checks[name](a))
        return out

    # 1 ------------------------------------------------------------------------------
    def integrity(self, a: Analysis) -> list[Violation]:
        out = []
        for life in sorted_lives(a):
            for r in life.events:
                if r.kind != tr.DELIVER:
                    continue
                subs = a.submitted.get(msg_key(r.data))
                if not subs:
                    out.append(Violation(INTEGRITY, f"n{r.node}/{r.inc} delivered a message "
                                         f"never submitted by n{r.data.sender}/{r.data.incarnation}"
                                         f" ({len(r.data.payload)} bytes)", r.index, r.node))
                elif all(_ring_service(s.data.service) != _ring_service(r.data.service)
                         for s in subs):
                    out.append(_v(INTEGRITY, r, f"message submitted as "
                                            f"{subs[0].data.service.name} delivered as "
                                            f"{r.data.service.name}"))
        return out

    # 2 ------------------------------------------------------------------------------
    def no_duplication(self, a: Analysis) -> list[Violation]:
        out = []
        for life in sorted_lives(a):
            count: dict[MsgKey, int] = defaultdict(int)
            for r in life.events:
                if r.kind != tr.DELIVER:
                    continue
                k = msg_key(r.data)
                count[k] += 1
                if count[k] > max(1, len(a.submitted.get(k, ()))):
                    out.append(Violation(NO_DUPLICATION, f"n{r.node}/{r.inc} delivered the same "
                                         f"message of n{k[0]}/{k[1]} {count[k]} times",
                                         r.index, r.node))
        return out

    # 3 ------------------------------------------------------------------------------
    def total_order(self, a: Analysis) -> list[Violation]:
        out: list[Violation] = []
        position: dict[MsgKey, tuple[Any, int, Record]] = {}
        edges: dict[int, set[int]] = defaultdict(set)
        ids: dict[Any, int] = {}
        names: list[Any] = []
        first_rec: list[Record] = []
        for life in sorted_lives(a):
            last_seq: dict[Any, int] = {}
            prev: Any = None
            for r in life.events:
                d = r.data
                if r.kind == tr.DELIVER:
                    k = msg_key(d)
                    node_id: Any = ("m",) + k
                    pos = position.get(k)
                    if pos is None:
                        position[k] = (d.ring_id, d.seq, r)
                    elif (pos[0], pos[1]) != (d.ring_id, d.seq):
                        out.append(Violation(TOTAL_ORDER, f"message of n{k[0]}/{k[1]} delivered at "
                                             f"ring {pos[0]} seq {pos[1]} by n{pos[2].node} but at "
                                             f"ring {d.ring_id} seq {d.seq} by n{r.node}",
                                             r.index, r.node))
                    ls = last_seq.get(d.ring_id)
                    if ls is not None and d.seq < ls:
                        out.append(Violation(TOTAL_ORDER, f"n{r.node}/{r.inc} delivered seq {d.seq}"
                                             f" after seq {ls} in ring {d.ring_id}", r.index, r.node))
                    last_seq[d.ring_id] = d.seq
                else:
                    node_id = _config_id(d)
                gid = ids.get(node_id)
                if gid is None:
                    gid = ids[node_id] = len(names)
                    names.append(node_id)
                    first_rec.append(r)
                if prev is not None and prev != gid:
                    edges[prev].add(gid)
                prev = gid
        cycle = _find_cycle(edges)
        if cycle is not None:
            r = first_rec[cycle[0]]
            shown = " -> ".join(_describe_id(names[x]) for x in cycle[:6])
            out.append(Violation(TOTAL_ORDER, f"'delivered before' has a cycle of {len(cycle)} "
                                 f"events: {shown}", r.index, r.node))
        return out

    # 4 ------------------------------------------------------------------------------
    def fifo(self, a: Analysis) -> list[Violation]:
        out = []
        # per (sender life, ring, lane): each receiver's list must be a prefix of the longest.
        # Lanes are separate queues (a CONTROL message may overtake queued NORMAL ones).
        # Within one ring a receiver's messages of one sender life and lane are consecutive
        # in that lane's submission order: a hole is a message skipped (PROTOCOL.md 3.2
        # delivers a departed sender's packets only up to the first gap).
        Group = tuple[int, int, Any, Any]
        lists: dict[Group, list[tuple[list[MsgKey], Record]]] = defaultdict(list)
        ordinal = _lane_ordinals(a)
        for life in sorted_lives(a):
            per: dict[Group, list[MsgKey]] = defaultdict(list)
            first: dict[Group, Record] = {}
            last_counter: dict[tuple[int, int, Any], tuple[int, Record]] = {}
            last_ordinal: dict[Group, int | None] = {}
            for r in life.events:
                if r.kind != tr.DELIVER:
                    continue
                d = r.data
                k = msg_key(d)
                subs = a.submitted.get(k)
                lane = getattr(subs[0].data, "lane", None) if subs else None
                g = (int(d.sender), int(d.incarnation), d.ring_id, lane)
                per[g].append(k)
                first.setdefault(g, r)
                if subs:
                    c = subs[0].data.counter
                    lc = last_counter.get((k[0], k[1], lane))
                    if lc is not None and c < lc[0]:
                        out.append(Violation(FIFO, f"n{r.node}/{r.inc} delivered message #{c} of "
                                             f"n{k[0]}/{k[1]} after its #{lc[0]}", r.index, r.node))
                    last_counter[(k[0], k[1], lane)] = (c, r)
                o = ordinal.get(k) if subs and len(subs) == 1 else None
                prev = last_ordinal.get(g)
                if o is not None and prev is not None and o > prev + 1:
                    out.append(_v(FIFO, r, f"n{r.node}/{r.inc} skipped {o - prev - 1} message(s) "
                                  f"of n{k[0]}/{k[1]} in ring {d.ring_id} before its #{c}"))
                last_ordinal[g] = o
            for g, keys in per.items():
                lists[g].append((keys, first[g]))
        for g in sorted(lists, key=repr):
            entries = lists[g]
            longest = max(entries, key=lambda e: len(e[0]))[0]
            for keys, r in entries:
                if keys != longest[:len(keys)]:
                    out.append(Violation(FIFO, f"n{r.node}/{r.inc}: messages of n{g[0]}/{g[1]} in "
                                         f"ring {g[2]} are not a prefix of that sender's sequence",
                                         r.index, r.node))
        return out

    # 5 ------------------------------------------------------------------------------
    def config_agreement(self, a: Analysis) -> list[Violation]:
        out = []
        members_of: dict[Any, Record] = {}
        for life in sorted_lives(a):
            node = life.key[0]
            persisted0 = life.start.data if life.start is not None else None
            prev_reg: Record | None = None
            pending_t: Record | None = None
            persisted_max = persisted0 if persisted0 is not None else -1
            pi = 0
            persists = life.persists
            for r in life.events:
                if r.kind != tr.CONFIG:
                    continue
                while pi < len(persists) and persists[pi].index < r.index:
                    persisted_max = max(persisted_max, persists[pi].data)
                    pi += 1
                c = r.data
                mem = set(c.members)
                if node not in mem:
                    out.append(_v(CONFIG_AGREEMENT, r, f"{c.kind.name} config {c.ring_id} "
                                  f"{list(c.members)} does not include n{node}"))
                if c.kind is ConfigKind.TRANSITIONAL:
                    if pending_t is not None:
                        out.append(_v(CONFIG_AGREEMENT, r, "two transitional configurations "
                                      "without a regular one between them"))
                    if prev_reg is not None:
                        if not mem <= set(prev_reg.data.members):
                            out.append(_v(CONFIG_AGREEMENT, r, f"transitional {list(c.members)} not"
                                          f" a subset of previous regular {list(prev_reg.data.members)}"))
                        left = tuple(sorted(set(prev_reg.data.members) - mem))
                        if tuple(c.left) != left:
                            out.append(_v(CONFIG_AGREEMENT, r, f"transitional left={list(c.left)}, "
                                          f"expected {list(left)}"))
                    pending_t = r
                    continue
                # REGULAR
                other = members_of.setdefault(c.ring_id, r)
                if tuple(other.data.members) != tuple(c.members):
                    out.append(_v(CONFIG_AGREEMENT, r, f"ring {c.ring_id}: n{node} has members "
                                  f"{list(c.members)}, n{other.node} has {list(other.data.members)}"))
                if pending_t is None:
                    if prev_reg is not None:    # a life's first configuration may come alone
                        out.append(_v(CONFIG_AGREEMENT, r, f"regular configuration {c.ring_id} "
                                      "not preceded by a transitional one"))
                else:
                    tm = set(pending_t.data.members)
                    if not tm <= mem:
                        out.append(_v(CONFIG_AGREEMENT, r, f"transitional {sorted(tm)} not a "
                                      f"subset of the next regular {list(c.members)}"))
                    joined = tuple(sorted(mem - tm))
                    if tuple(c.joined) != joined:
                        out.append(_v(CONFIG_AGREEMENT, r, f"regular joined={list(c.joined)}, "
                                      f"expected {list(joined)}"))
                if prev_reg is not None and c.ring_id.seq <= prev_reg.data.ring_id.seq:
                    out.append(_v(CONFIG_AGREEMENT, r, f"ring seq went from "
                                  f"{prev_reg.data.ring_id} to {c.ring_id}"))
                if persisted0 is not None and c.ring_id.seq <= persisted0:
                    out.append(_v(CONFIG_AGREEMENT, r, f"ring {c.ring_id} reuses a ring seq <= the "
                                  f"persisted {persisted0} this incarnation started with"))
                if c.ring_id.seq > persisted_max:
                    out.append(_v(CONFIG_AGREEMENT, r, f"ring {c.ring_id} installed before its seq "
                                  f"was persisted (persisted {persisted_max})"))
                prev_reg = r
                pending_t = None
        return out

    # 7 ------------------------------------------------------------------------------
    def delivered_where_sent(self, a: Analysis) -> list[Violation]:
        out = []
        for life in sorted_lives(a):
            for seg in life.segments:
                reg = seg.regular.data.ring_id if seg.regular is not None else None
                for r in seg.in_r:
                    d = r.data
                    if reg is None:
                        out.append(_v(DELIVERED_WHERE_SENT, r, "message delivered before any "
                                      "configuration was installed"))
                    elif d.in_transitional or d.ring_id != reg:
                        out.append(_v(DELIVERED_WHERE_SENT, r, f"message of ring {d.ring_id} "
                                      f"(transitional={d.in_transitional}) delivered in regular "
                                      f"configuration {reg}"))
                for r in seg.in_t:
                    d = r.data
                    if not d.in_transitional or reg is None or d.ring_id != reg:
                        out.append(_v(DELIVERED_WHERE_SENT, r, f"message of ring {d.ring_id} "
                                      f"(transitional={d.in_transitional}) delivered in the "
                                      f"transitional configuration after {reg}"))
        return out

    # 8 ------------------------------------------------------------------------------
    def self_delivery(self, a: Analysis) -> list[Violation]:
        out: list[Violation] = []
        if not a.run.quiescent:
            return out
        for life in sorted_lives(a):
            if life.crashed:
                continue
            got = keys_of(r for r in life.events if r.kind == tr.DELIVER)
            for s in life.submits:
                if (s.node, s.inc, bytes(s.data.payload)) not in got:
                    out.append(_v(SELF_DELIVERY, s, f"n{s.node}/{s.inc} never delivered its own "
                                  f"message #{s.data.counter} ({s.data.service.name}, "
                                  f"{len(s.data.payload)} bytes)"))
        return out

    # 12 -----------------------------------------------------------------------------
    def boundedness(self, a: Analysis) -> list[Violation]:
        return [_v(BOUNDEDNESS, r, str(r.data)) for r in a.problems]


# ---------------------------------------------------------------------------------------
def _lane_ordinals(a: Analysis) -> dict[MsgKey, int]:
    """Each submitted message's position among its sender life's submissions in its lane."""
    out: dict[MsgKey, int] = {}
    for life in sorted_lives(a):
        count: dict[Any, int] = defaultdict(int)
        for s in life.submits:
            lane = getattr(s.data, "lane", None)
            out[(s.node, s.inc, bytes(s.data.payload))] = count[lane]
            count[lane] += 1
    return out


def _ring_service(service: Service) -> Service:
    """The ring-level service carrying ``service`` (SAFE stays SAFE, the rest ride AGREED)."""
    return service.ring_service


def _config_id(c: Any) -> tuple[Any, ...]:
    if c.kind is ConfigKind.REGULAR:
        return ("R", c.ring_id)
    return ("T", c.ring_id, tuple(c.members))


def _describe_id(x: tuple[Any, ...]) -> str:
    if x[0] == "m":
        return f"msg n{x[1]}/{x[2]}"
    if x[0] == "R":
        return f"regular {x[1]}"
    return f"transitional {x[1]} {list(x[2])}"


def _find_cycle(edges: dict[int, set[int]]) -> list[int] | None:
    """One cycle of the directed graph, or None (iterative DFS, deterministic order)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color: dict[int, int] = defaultdict(int)
    parent: dict[int, int] = {}
    order = sorted(edges)
    for root in order:
        if color[root] != WHITE:
            continue
        stack = [(root, iter(sorted(edges.get(root, ()))))]
        color[root] = GREY
        while stack:
            v, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[v] = BLACK
                stack.pop()
                continue
            if color[nxt] == GREY:
                cyc = [nxt]
                u = v
                while u != nxt:
                    cyc.append(u)
                    u = parent[u]
                cyc.reverse()
                return [nxt] + cyc[:-1] if cyc[-1] == nxt else cyc
            if color[nxt] == WHITE:
                color[nxt] = GREY
                parent[nxt] = v
                stack.append((nxt, iter(sorted(edges.get(nxt, ())))))
    return None
