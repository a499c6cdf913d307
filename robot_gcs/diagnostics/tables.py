"""The console's tables and the words in them (rich renderables, no layout).

Owns how each part of a ``ClusterHealth`` reads on a terminal: the ring (one row per
daemon), the groups with who leads each election, the topics (type, publishers,
subscribers, rate, age), the nodes (detail view), the session queues, and the merged
lines of membership events and node log records. console.py arranges them.

Rules: names are written one way everywhere, the ring's way: private names
``#client#daemon`` (what the API, the launch file and ``robot-gcs topic list`` show).
A daemon's note explains its grade in a few words; a gather reason is only shown while
the daemon is out of OPERATIONAL (it says why it left it). Ring ids are shortened
(``1.…8650``) only in the main view; ``full_ids`` (the detail view) shows them whole.
Every abbreviation on screen is in ``LEGEND``. Plain text plus styles, so
``color_system=None`` output carries the same content.
"""

from __future__ import annotations

import datetime as _dt
from typing import Iterable

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from .collector import DIAG_GROUP, PUBLISHER_CLIENT
from .model import (ClusterHealth, DaemonView, Grade, LogLine, MembershipEvent, SessionView,
                    TopicView, worst)

GRADE_STYLE = {Grade.OK: "green", Grade.WARN: "yellow", Grade.ERROR: "bold red",
               Grade.STALE: "magenta"}
LEGEND = ("size: daemons in a ring, members of a group · rot: token rotation p50/p99 ms · "
          "lag: daemon loop lag p99/max ms · pub/sub: nodes · d: details · q: quit")
SHORT_LEGEND = "rot: token rotation p50/p99 ms · lag: loop lag p99/max ms · d: details · q: quit"
SYSTEM_TOPICS = ("/rosout",)
LEVEL_STYLE = {"WARN": "yellow", "ERROR": "bold red", "FATAL": "bold red", "DEBUG": "dim"}


def _pair(a: float | None, b: float | None) -> str:
    def one(v: float | None) -> str:
        if v is None:
            return "-"
        return f"{v:.1f}" if v < 10 else f"{v:.0f}"
    return f"{one(a)}/{one(b)}"


def _rate(v: float) -> str:
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def _duration(s: float) -> str:
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h"


def _bytes(v: float) -> str:
    """Bytes per second, compactly: 950B, 12k, 3.4M."""
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.1f}{unit}" if v < 10 * scale else f"{v / scale:.0f}{unit}"
    return f"{v:.0f}B"


def short_ring(ring_id: str, digits: int = 4) -> str:
    """``rep.seq`` with a long seq cut to its last digits (``1.…6092``): ring seqs picked
    after a lost state file are large; the tail still tells rings apart on screen."""
    rep, sep, seq = ring_id.partition(".")
    if sep and len(seq) > digits + 2:
        return f"{rep}.…{seq[-digits:]}"
    return ring_id


def type_name(path: str) -> str:
    """``pkg.msgs:Odometry`` -> ``Odometry`` (the class is what a reader recognises)."""
    return path.rpartition(":")[2] or path


def grade_text(g: Grade) -> Text:
    return Text(g.name, style=GRADE_STYLE[g])


def clock(t: float, tz: _dt.tzinfo | None = None) -> str:
    return _dt.datetime.fromtimestamp(t, tz).strftime("%H:%M:%S")


def _table(gap: int = 2) -> Table:
    """A borderless table whose columns are ``gap`` spaces apart."""
    return Table(box=None, expand=True, pad_edge=False, show_edge=False,
                 padding=(0, gap - gap // 2, 0, gap // 2))


SHORT_METRIC = {
    "not_operational_s": "not operational s", "rotation_p50_ms": "rot p50 ms",
    "rotation_p99_ms": "rot p99 ms", "loop_lag_worst_ms": "lag max ms",
    "loop_lag_p99_ms": "lag p99 ms", "retransmits_per_s": "retrans/s",
    "drops_per_s": "drops/s", "send_queue_len": "send queue",
    "delivered_msgs_per_s": "msgs/s", "ring_size": "ring size",
}


def daemon_note(v: DaemonView) -> str:
    """Why a daemon has its grade, in a few words."""
    h = v.health
    if v.left:
        return f"left: {v.left_cause}" if v.left_cause else "gone from the ring"
    if v.stale and h.state == "UNKNOWN":
        return "never heard from"
    if v.stale:
        return f"silent for {v.age_s:.1f}s"
    bad = [f for f in v.findings if f.grade >= Grade.WARN]
    if bad:
        f = max(bad, key=lambda f: f.grade)
        op = "<" if f.limit is not None and f.value < f.limit else ">"
        limit = "" if f.limit is None else f"{op}{f.limit:g}"
        label = SHORT_METRIC.get(f.metric, f.metric.replace("_", " "))
        value = f"{f.value:.0f}" if abs(f.value) >= 100 else f"{f.value:.3g}"
        return f"{label} {value}{limit}"
    if h.gather_reason and h.state != "OPERATIONAL":
        src = f" {h.gather_from}" if h.gather_from else ""
        return f"gather: {h.gather_reason}{src}"
    return ""


def ring_table(cluster: ClusterHealth, width: int, full_ids: bool = False) -> Table:
    narrow = width < 70
    wide = width >= 100 or full_ids
    huge = width >= 130 or full_ids
    t = _table()
    t.add_column("daemon", no_wrap=True, overflow="ellipsis")
    t.add_column("state", no_wrap=True)
    t.add_column("ring", no_wrap=True)
    t.add_column("size", justify="right", no_wrap=True)
    if not narrow:
        t.add_column("rot", justify="right", no_wrap=True)
        t.add_column("lag", justify="right", no_wrap=True)
    if wide:
        t.add_column("since", justify="right", no_wrap=True)
        t.add_column("msg/s", justify="right", no_wrap=True)
    if huge:
        t.add_column("kB/s", justify="right", no_wrap=True)
        t.add_column("retr/s", justify="right", no_wrap=True)
        t.add_column("drops", justify="right", no_wrap=True)
    t.add_column("grade", no_wrap=True)
    t.add_column("note", no_wrap=True, overflow="ellipsis", ratio=1, min_width=14)
    # rotation time is a ring property measured by its representative: members of the
    # same ring show the representative's figures
    rotation = {v.health.ring_id: (v.health.rotation_p50_ms, v.health.rotation_p99_ms)
                for v in cluster.daemons
                if not v.stale and v.health.rotation_p50_ms is not None}
    for v in cluster.daemons:
        h = v.health
        ring = h.ring_id if full_ids else short_ring(h.ring_id)
        row: list[RenderableType] = [h.name, h.state, ring, str(len(h.members))]
        if not narrow:
            p50, p99 = h.rotation_p50_ms, h.rotation_p99_ms
            if p50 is None and not v.stale:
                p50, p99 = rotation.get(h.ring_id, (None, None))
            row += [_pair(p50, p99), _pair(h.loop_lag_p99_ms, h.loop_lag_worst_ms)]
        if wide:
            row += [_duration(h.time_in_state_s), _rate(h.delivered_msgs_per_s)]
        if huge:
            row += [_rate(h.delivered_bytes_per_s / 1000), _rate(h.retransmits_per_s),
                    str(sum(n for _, n in h.drops))]
        row += [grade_text(v.grade), daemon_note(v)]
        t.add_row(*row, style="dim" if v.stale else "")
    return t


def shown_groups(cluster: ClusterHealth, every: bool) -> list[tuple[str, tuple[str, ...]]]:
    """(group, members) to show: process groups (and every group with ``every``), plus
    election groups the registry knows even when no snapshot carried their members."""
    groups = {g.group: g.members for g in cluster.groups
              if every or not (g.group.startswith("t:") or g.group == DIAG_GROUP)}
    for lv in cluster.leaders:
        groups.setdefault(lv.group, lv.members)
    return sorted(groups.items())


def groups_table(cluster: ClusterHealth, every: bool = False) -> Table:
    """Process groups: the leader of each election group (from the registry), and the
    members -- how many in the main view, their names with ``every`` (the detail view)."""
    leaders = {lv.group: lv for lv in cluster.leaders}
    t = _table()
    t.add_column("group", no_wrap=True, overflow="ellipsis")
    t.add_column("leader", overflow="fold", ratio=1 if not every else None)
    t.add_column("members" if every else "size", justify="left" if every else "right",
                 overflow="fold", ratio=1 if every else None)
    for group, members in shown_groups(cluster, every):
        lv = leaders.get(group)
        if lv is None:
            leader = Text("-", style="dim")
        elif lv.leader is not None:
            leader = Text(lv.leader, style="bold green")
        else:
            leader = Text("deciding" if not lv.agreed else "none", style="yellow")
        count = f"{len(members)}: " + " ".join(members) if every else str(len(members))
        t.add_row(group, leader, count)
    if not t.rows:
        t.add_row(Text("(none)", style="dim"), "", "")
    return t


def topics_table(cluster: ClusterHealth, every: bool = False) -> Table:
    """One row per topic: its type (``MISMATCH`` when nodes announce different ones), how
    many nodes publish / subscribe it (registry), the highest rate, the freshest age and
    the worst grade over the daemons that see it."""
    t = _table(gap=1)
    t.add_column("topic", no_wrap=True, overflow="ellipsis", ratio=1, min_width=10)
    t.add_column("type", no_wrap=True, overflow="ellipsis", max_width=10)
    t.add_column("pub", justify="right", no_wrap=True)
    t.add_column("sub", justify="right", no_wrap=True)
    t.add_column("Hz", justify="right", no_wrap=True)
    t.add_column("age", justify="right", no_wrap=True)
    t.add_column("", no_wrap=True)
    stats: dict[str, list[TopicView]] = {}
    for tv in cluster.topics:
        stats.setdefault(tv.topic.topic, []).append(tv)
    types: dict[str, set[str]] = {}
    pubs: dict[str, set[str]] = {}
    subs: dict[str, set[str]] = {}
    for n in cluster.nodes:
        for topic, path in n.pubs:
            types.setdefault(topic, set()).add(path)
            pubs.setdefault(topic, set()).add(n.name)
        for topic, path in n.subs:
            types.setdefault(topic, set()).add(path)
            subs.setdefault(topic, set()).add(n.name)
    for name in sorted(set(stats) | set(types)):
        if name in SYSTEM_TOPICS and not every:
            continue
        views = stats.get(name, [])
        ages = [v.topic.age_s for v in views if v.topic.age_s is not None]
        kinds = sorted(types.get(name, ()))
        kind = Text("MISMATCH", style="bold red") if len(kinds) > 1 else \
            Text(type_name(kinds[0]) if kinds else "?")
        grade = grade_text(worst([v.grade for v in views])) if views else Text("-", style="dim")
        t.add_row(name, kind, str(len(pubs.get(name, ()))), str(len(subs.get(name, ()))),
                  _rate(max(v.topic.rate_hz for v in views)) if views else "-",
                  f"{min(ages):.1f}" if ages else "-", grade)
    if not t.rows:
        t.add_row(Text("(none)", style="dim"), "", "", "", "", "", "")
    return t


def topic_detail_table(cluster: ClusterHealth) -> Table:
    """Per daemon and topic: everything its subscribers measure."""
    t = _table()
    for col in ("daemon", "topic", "Hz", "bytes/s", "age s", "deadline s", "misses", "drops",
                "type errors", "grade"):
        t.add_column(col, no_wrap=True, justify="left" if col in ("daemon", "topic") else "right")
    for tv in sorted(cluster.topics, key=lambda tv: (tv.topic.topic, tv.daemon)):
        x = tv.topic
        t.add_row(tv.daemon, x.topic, _rate(x.rate_hz), _bytes(x.bandwidth_bps),
                  "-" if x.age_s is None else f"{x.age_s:.2f}",
                  "-" if x.deadline_s is None else f"{x.deadline_s:g}", str(x.deadline_misses),
                  str(x.drops), str(x.type_errors), grade_text(tv.grade))
    return t


def bridges_table(cluster: ClusterHealth) -> Table:
    """Every bridge rule of every daemon: what crossed and what was held back."""
    t = _table()
    for col in ("daemon", "bridge", "dir", "topic", "outside", "msgs", "bytes", "rate drops",
                "loops", "errors", "age s"):
        t.add_column(col, no_wrap=True, justify="right" if col in (
            "msgs", "bytes", "rate drops", "loops", "errors", "age s") else "left")
    for v in cluster.daemons:
        for b in v.health.bridges:
            t.add_row(v.health.name, f"{b.bridge} ({b.kind})", b.direction, b.topic, b.remote,
                      str(b.forwarded), _bytes(b.bytes), str(b.rate_dropped), str(b.loops),
                      Text(str(b.errors), style="bold red") if b.errors else "0",
                      "-" if b.age_s is None else f"{b.age_s:.1f}")
    if not t.rows:
        t.add_row(Text("(none)", style="dim"), *[""] * 10)
    return t


def nodes_table(cluster: ClusterHealth) -> Table:
    """Every node the registry knows: what it publishes, subscribes and serves."""
    t = _table()
    t.add_column("node", no_wrap=True)
    t.add_column("publishes", overflow="fold", ratio=1)
    t.add_column("subscribes", overflow="fold", ratio=1)
    t.add_column("services", overflow="fold")

    def eps(items: Iterable[tuple[str, str]]) -> str:
        return " ".join(f"{topic}({type_name(path)})" for topic, path in items)
    for n in cluster.nodes:
        t.add_row(n.name, eps(n.pubs), eps(n.subs), " ".join(n.services))
    if not t.rows:
        t.add_row(Text("(no nodes announced)", style="dim"), "", "", "")
    return t


def sessions_table(cluster: ClusterHealth, limit: int | None = None,
                   unwell_only: bool = False) -> Table:
    """Session queues, worst first; at most ``limit`` rows (the last says how many more);
    ``unwell_only``: the ones graded WARN or worse (the main view: queues are plumbing
    until they go wrong)."""
    t = _table()
    t.add_column("daemon/session", no_wrap=True, overflow="ellipsis", ratio=1)
    t.add_column("queue", justify="right", no_wrap=True)
    t.add_column("drops", justify="right", no_wrap=True)
    t.add_column("grade", no_wrap=True)
    shown = sorted((sv for sv in cluster.sessions
                    if session_shown(sv) and (sv.grade or not unwell_only)),
                   key=lambda sv: (-sv.grade, sv.daemon, sv.session.name))
    if limit is not None and len(shown) > limit:
        more = len(shown) - (limit - 1)
        shown = shown[:limit - 1]
    else:
        more = 0
    for sv in shown:
        t.add_row(f"{sv.daemon}/{sv.session.name}", str(sv.session.queue_depth),
                  str(sv.session.drops), grade_text(sv.grade))
    if more:
        t.add_row(Text(f"... {more} more", style="dim"), "", "", "")
    if not t.rows:
        t.add_row(Text("(none)", style="dim"), "", "", "")
    return t


def session_shown(sv: SessionView) -> bool:
    # the health publishers themselves are shown only when unwell
    return sv.session.name != PUBLISHER_CLIENT or sv.grade is not Grade.OK


def merge_events(events: Iterable[MembershipEvent],
                 window: float = 2.0) -> list[tuple[MembershipEvent, tuple[str, ...]]]:
    """Fold the same change seen by several daemons (same cause, ring, members and
    detail, within ``window`` seconds) into one line: (first event, daemons)."""
    out: list[tuple[MembershipEvent, tuple[str, ...]]] = []
    for e in events:
        merged = False
        for i in range(len(out) - 1, -1, -1) if e.ring_id else ():
            first, who = out[i]
            if e.time - first.time > window:
                break
            if (first.cause, first.ring_id, first.members, first.detail) == \
                    (e.cause, e.ring_id, e.members, e.detail):
                if e.daemon not in who:
                    out[i] = (first, who + (e.daemon,))
                merged = True
                break
        if not merged:
            out.append((e, (e.daemon,)))
    return out


def event_lines(events: Iterable[MembershipEvent], tz: _dt.tzinfo | None = None,
                logs: Iterable[LogLine] = (), full_ids: bool = False) -> list[Text]:
    """Membership events and node log records, one line each, oldest first."""
    merged = merge_events(events)
    rows: list[tuple[float, str, str, str, str]] = []     # time, who, kind, style, text
    for e, who in merged:
        rid = e.ring_id if full_ids else short_ring(e.ring_id)
        ring = f"ring {rid} [{','.join(e.members)}] " if e.ring_id else ""
        detail = e.detail or ("re-formed, same members" if e.ring_id else "")
        style = {"NETWORK": "red", "GATHER": "yellow"}.get(e.cause, "cyan")
        rows.append((e.time, ",".join(who), e.cause, style, ring + detail))
    for r in logs:
        rows.append((r.time, r.node, r.level, LEVEL_STYLE.get(r.level, "green"), r.text))
    rows.sort(key=lambda r: r[0])
    width = min(max((len(r[1]) for r in rows), default=4), 18)
    out = []
    for when, name, kind, style, text in rows:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(clock(when, tz) + " ", style="dim")
        if len(name) > width:
            name = name[:width - 1] + "…"
        line.append(f"{name:<{width}} ", style="bold")
        line.append(f"{kind:<8} ", style=style)
        line.append(text)
        out.append(line)
    return out
