"""Rich renderables for the live console (rich is imported only here and by monitor_command).

Owns how a ``ClusterHealth`` looks on a terminal: a one-line header, the ring panel
(daemon, state, ring id, members, rotation p50/p99, loop lag p99/worst, grade, note --
plus time in state, msgs/s, kB/s, retransmits/s and drops on wide terminals), groups with
members, topics (one row per topic: Hz, bandwidth, age, deadline, worst grade), session
queues (worst first), and the membership event log (time, daemon(s), cause, detail)
showing the newest lines; the same change seen by several daemons is one line.

Rules: ``MonitorView(cluster)`` is a renderable that sizes itself to what the console
offers (``options.size``): at 80x24 every panel gets a few lines and the event log the
rest; on a smaller terminal the sessions panel shrinks first, then the middle panels go,
then the log, so the ring panel always shows. Everything is plain text plus styles, so ``color_system=None`` output (tests,
dumb terminals, SSH without colour) carries the same content. Tests render into
``Console(width=80, height=24, file=io.StringIO(), force_terminal=True, color_system=None)``.
Times are local wall-clock time (``tz`` overrides it, tests pass UTC).
"""

from __future__ import annotations

import datetime as _dt
import io
from typing import Iterable

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .collector import PUBLISHER_CLIENT
from .model import ClusterHealth, DaemonView, Grade, MembershipEvent, SessionView, TopicView

GRADE_STYLE = {Grade.OK: "green", Grade.WARN: "yellow", Grade.ERROR: "bold red",
               Grade.STALE: "magenta"}


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


def member_label(private: str) -> str:
    """``#client#daemon`` -> ``client@daemon`` (shorter, reads like an address)."""
    if private.startswith("#") and private.count("#") == 2:
        client, daemon = private[1:].split("#")
        return f"{client}@{daemon}"
    return private


def grade_text(g: Grade) -> Text:
    return Text(g.name, style=GRADE_STYLE[g])


def clock(t: float, tz: _dt.tzinfo | None = None) -> str:
    return _dt.datetime.fromtimestamp(t, tz).strftime("%H:%M:%S")


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
        return f"left: {v.left_cause or '?'}"
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
    if h.gather_reason:
        src = f" {h.gather_from}" if h.gather_from else ""
        return f"gather: {h.gather_reason}{src}"
    return ""


def ring_table(cluster: ClusterHealth, width: int) -> Table:
    narrow = width < 70
    wide = width >= 100
    huge = width >= 130
    t = Table(box=None, expand=True, pad_edge=False, show_edge=False, padding=(0, 1))
    t.add_column("daemon", no_wrap=True, overflow="ellipsis")
    t.add_column("state", no_wrap=True)
    t.add_column("ring", no_wrap=True)
    t.add_column("mem", justify="right", no_wrap=True)
    if not narrow:
        t.add_column("rot ms", justify="right", no_wrap=True)
        t.add_column("lag ms", justify="right", no_wrap=True)
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
        row: list[RenderableType] = [h.name, h.state,
                                     short_ring(h.ring_id), str(len(h.members))]
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
        style = "dim" if v.stale else ""
        t.add_row(*row, style=style)
    return t


def groups_table(cluster: ClusterHealth) -> Table:
    t = Table(box=None, expand=True, pad_edge=False, show_edge=False, padding=(0, 1))
    t.add_column("group", no_wrap=True, overflow="ellipsis")
    t.add_column("members", overflow="fold", ratio=1)
    for g in cluster.groups:
        t.add_row(g.group, f"{len(g.members)}: " + " ".join(member_label(m) for m in g.members))
    if not cluster.groups:
        t.add_row(Text("(none)", style="dim"), "")
    return t


def topics_table(cluster: ClusterHealth) -> Table:
    """One row per topic: the highest rate and bandwidth, the freshest age and the worst
    grade over the daemons that see it (``n`` of them); per-daemon rows are in status."""
    t = Table(box=None, expand=True, pad_edge=False, show_edge=False, padding=(0, 1))
    t.add_column("topic", no_wrap=True, overflow="ellipsis", ratio=1, min_width=6)
    t.add_column("n", justify="right", no_wrap=True)
    t.add_column("Hz", justify="right", no_wrap=True)
    t.add_column("bw", justify="right", no_wrap=True)
    t.add_column("age", justify="right", no_wrap=True)
    t.add_column("ddl", justify="right", no_wrap=True)
    t.add_column("", no_wrap=True)
    by_topic: dict[str, list[TopicView]] = {}
    for tv in cluster.topics:
        by_topic.setdefault(tv.topic.topic, []).append(tv)
    for name in sorted(by_topic):
        views = by_topic[name]
        ages = [v.topic.age_s for v in views if v.topic.age_s is not None]
        ddls = [v.topic.deadline_s for v in views if v.topic.deadline_s is not None]
        age = f"{min(ages):.1f}" if ages else "-"
        ddl = f"{min(ddls):.2g}" if ddls else "-"
        t.add_row(name, str(len(views)), _rate(max(v.topic.rate_hz for v in views)),
                  _bytes(max(v.topic.bandwidth_bps for v in views)), age, ddl,
                  grade_text(max(v.grade for v in views)))
    if not cluster.topics:
        t.add_row(Text("(none)", style="dim"), "", "", "", "", "", "")
    return t


def sessions_table(cluster: ClusterHealth, limit: int | None = None) -> Table:
    """Session queues, worst first; at most ``limit`` rows (the last says how many more)."""
    t = Table(box=None, expand=True, pad_edge=False, show_edge=False, padding=(0, 1))
    t.add_column("daemon/session", no_wrap=True, overflow="ellipsis", ratio=1)
    t.add_column("queue", justify="right", no_wrap=True)
    t.add_column("drops", justify="right", no_wrap=True)
    t.add_column("grade", no_wrap=True)
    shown = sorted((sv for sv in cluster.sessions if _session_shown(sv)),
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


def _session_shown(sv: SessionView) -> bool:
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


def event_lines(events: Iterable[MembershipEvent], tz: _dt.tzinfo | None = None) -> list[Text]:
    merged = merge_events(events)
    labels = [",".join(who) for _, who in merged]
    width = min(max((len(x) for x in labels), default=4), 14)
    out = []
    for (e, _), label in zip(merged, labels):
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(clock(e.time, tz) + " ", style="dim")
        if len(label) > width:
            label = label[:width - 1] + "…"
        line.append(f"{label:<{width}} ", style="bold")
        style = {"NETWORK": "red", "GATHER": "yellow"}.get(e.cause, "cyan")
        line.append(f"{e.cause:<10} ", style=style)
        ring = f"ring {short_ring(e.ring_id)} [{','.join(e.members)}] " if e.ring_id else ""
        detail = e.detail or ("re-formed, same members" if e.ring_id else "")
        line.append(ring + detail)
        out.append(line)
    return out


class EventLog:
    """The membership log panel: shows the newest events that fit its height."""

    def __init__(self, events: tuple[MembershipEvent, ...], tz: _dt.tzinfo | None = None) -> None:
        self.events = events
        self.tz = tz

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or 10
        rows = max(0, height - 2)
        lines = event_lines(self.events, self.tz)[-rows:] if rows else []
        body: RenderableType = Group(*lines) if lines else Text("(no membership events yet)",
                                                                style="dim")
        yield Panel(body, title="membership events", title_align="left", box=box.ROUNDED,
                    height=height)


def header(cluster: ClusterHealth, tz: _dt.tzinfo | None = None) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("robot_gcs monitor", style="bold")
    t.append(f"  via {cluster.source}  " if cluster.source else "  ")
    t.append("overall ")
    t.append_text(grade_text(cluster.grade))
    t.append(f"  {len(cluster.daemons)} daemons  {clock(cluster.generated_at, tz)}", style="dim")
    return t


class MonitorView:
    """The whole console for one ``ClusterHealth``, fitted to the console's size."""

    def __init__(self, cluster: ClusterHealth, tz: _dt.tzinfo | None = None) -> None:
        self.cluster = cluster
        self.tz = tz

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = options.height or console.size.height
        c = self.cluster
        ring_h = min(len(c.daemons), 16) + 3
        layout = Layout()
        parts = [Layout(header(c, self.tz), name="header", size=1),
                 Layout(Panel(ring_table(c, width), title="ring", title_align="left",
                              box=box.ROUNDED), name="ring", size=ring_h)]
        left = height - 1 - ring_h
        groups_w = max(10, width * 4 // 9 - 4)    # the groups panel's inner width
        group_lines = len(console.render_lines(groups_table(c), options.update(width=groups_w,
                                                                               height=None)))
        n_topics = len({t.topic.topic for t in c.topics}) or 1
        n_sess = sum(1 for sv in c.sessions if _session_shown(sv))
        room = left - 5                            # keep >= 3 event lines
        # the middle row gets what it needs, but leaves 4 lines (>= 1 row) for sessions
        mid_h = min(max(group_lines, n_topics + 1) + 2, max(5, room - (4 if n_sess else 0)))
        if room >= mid_h:
            mid = Layout(name="middle", size=mid_h)
            mid.split_row(
                Layout(Panel(groups_table(c), title="groups", title_align="left",
                             box=box.ROUNDED), name="groups", ratio=4),
                Layout(Panel(topics_table(c), title="topics (Hz, bytes/s, age s, deadline s)",
                             title_align="left", box=box.ROUNDED), name="topics", ratio=5))
            parts.append(mid)
            left -= mid_h
            sess_rows = min(n_sess, 6, left - 5 - 3)   # keep >= 3 event lines below
            if sess_rows >= 1:
                sess_h = sess_rows + 3
                parts.append(Layout(Panel(sessions_table(c, sess_rows), title="sessions",
                                          title_align="left", box=box.ROUNDED),
                                    name="sessions", size=sess_h))
                left -= sess_h
        if left >= 3:
            parts.append(Layout(EventLog(c.events, self.tz), name="events", ratio=1))
        layout.split_column(*parts)
        yield from layout.__rich_console__(console, options.update(height=height))


def render_text(cluster: ClusterHealth, width: int = 80, height: int = 24,
                tz: _dt.tzinfo | None = None) -> str:
    """The console as plain text (what a test or a log file sees)."""
    buf = io.StringIO()
    console = Console(width=width, height=height, file=buf, force_terminal=True,
                      color_system=None, legacy_windows=False)
    console.print(MonitorView(cluster, tz))
    return buf.getvalue()
