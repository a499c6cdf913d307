"""The live console's screens (rich is imported only here, in tables.py and by
monitor_command).

Owns how a ``ClusterHealth`` is arranged on a terminal (the tables themselves are in
tables.py):

* the main view: a one-line header (through which daemon, overall grade, clock), the
  console's notice when it has one (a fail-over: "attached via cpu2 (cpu1 is gone)"), the
  ring panel, the groups with their election leaders beside the topics, the session
  queues, the events-and-logs panel (membership changes and node log records, newest
  last) and a legend line that explains every abbreviation;
* the detail view (``d`` in the console, ``--detail``): full ring ids, every node with its
  topics and services, every group (topic groups too), per-daemon topic figures, all
  sessions.

Rules: ``MonitorView(cluster)`` sizes itself to what the console offers
(``options.size``): at 80x24 every panel gets a few lines and the events-and-logs panel
the rest; on a smaller terminal the sessions panel shrinks first, then the middle panels
go, then the log, so the ring panel always shows. Tests render into ``Console(width=80,
height=24, file=io.StringIO(), force_terminal=True, color_system=None)``. Times are local
wall-clock time (``tz`` overrides it, tests pass UTC).
"""

from __future__ import annotations

import datetime as _dt
import io

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.layout import Layout
from rich.panel import Panel
from rich.text import Text

from .model import ClusterHealth
from .tables import (LEGEND, SHORT_LEGEND, bridges_table, clock, daemon_note, event_lines, grade_text,
                     groups_table, nodes_table, ring_table, session_shown, sessions_table,
                     shown_groups, topic_detail_table, topics_table)

__all__ = ["MonitorView", "render_text", "header", "clock", "daemon_note", "EventLog"]


class EventLog:
    """The events-and-logs panel: shows the newest lines that fit its height."""

    def __init__(self, cluster: ClusterHealth, tz: _dt.tzinfo | None = None) -> None:
        self.cluster = cluster
        self.tz = tz

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or 10
        rows = max(0, height - 2)
        lines = event_lines(self.cluster.events, self.tz, self.cluster.logs)[-rows:] \
            if rows else []
        body: RenderableType = Group(*lines) if lines else Text(
            "(no membership events or node logs yet)", style="dim")
        yield Panel(body, title="events and logs", title_align="left", box=box.ROUNDED,
                    height=height)


def header(cluster: ClusterHealth, tz: _dt.tzinfo | None = None) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("robot_gcs monitor", style="bold")
    t.append(f"  via {cluster.source}  " if cluster.source else "  ")
    t.append("overall ")
    t.append_text(grade_text(cluster.grade))
    t.append(f"  {len(cluster.daemons)} daemons  {len(cluster.nodes)} nodes  "
             f"{clock(cluster.generated_at, tz)}", style="dim")
    return t


def _panel(body: RenderableType, title: str) -> Panel:
    return Panel(body, title=title, title_align="left", box=box.ROUNDED)


def _legend(width: int) -> Text:
    return Text(LEGEND if width >= len(LEGEND) else SHORT_LEGEND, style="dim",
                no_wrap=True, overflow="ellipsis")


class MonitorView:
    """The whole console for one ``ClusterHealth``, fitted to the console's size."""

    def __init__(self, cluster: ClusterHealth, tz: _dt.tzinfo | None = None,
                 detail: bool = False) -> None:
        self.cluster = cluster
        self.tz = tz
        self.detail = detail

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.detail:
            yield from self._detail(options.max_width)
            return
        width = options.max_width
        height = options.height or console.size.height
        c = self.cluster
        ring_h = min(len(c.daemons), 16) + 3
        top = [Layout(header(c, self.tz), name="header", size=1)]
        if c.notice:
            top.append(Layout(Text(c.notice, style="bold yellow", no_wrap=True,
                                   overflow="ellipsis"), name="notice", size=1))
        parts = top + [Layout(_panel(ring_table(c, width), "ring"), name="ring", size=ring_h)]
        left = height - len(top) - ring_h
        legend = left >= 8
        if legend:
            left -= 1
        groups_w = max(10, width * 4 // 9 - 4)    # the groups panel's inner width
        group_lines = len(console.render_lines(groups_table(c), options.update(width=groups_w,
                                                                               height=None)))
        n_topics = len(console.render_lines(topics_table(c), options.update(
            width=max(10, width - groups_w - 8), height=None)))
        n_sess = sum(1 for sv in c.sessions if session_shown(sv) and sv.grade)
        room = left - 5                            # keep >= 3 event lines
        # the middle row gets what it needs, but leaves 4 lines (>= 1 row) for sessions
        mid_h = min(max(group_lines, n_topics) + 2, max(5, room - (4 if n_sess else 0)))
        if room >= mid_h:
            mid = Layout(name="middle", size=mid_h)
            mid.split_row(
                Layout(_panel(groups_table(c), "groups"), name="groups", ratio=4),
                Layout(_panel(topics_table(c), "topics"), name="topics", ratio=5))
            parts.append(mid)
            left -= mid_h
            sess_rows = min(n_sess, 6, left - 5 - 3)   # keep >= 3 event lines below
            if sess_rows >= 1:
                sess_h = sess_rows + 3
                parts.append(Layout(_panel(sessions_table(c, sess_rows, unwell_only=True),
                                           "sessions (unwell)"),
                                    name="sessions", size=sess_h))
                left -= sess_h
        if left >= 3:
            parts.append(Layout(EventLog(c, self.tz), name="events", ratio=1))
        if legend:
            parts.append(Layout(_legend(width), name="legend", size=1))
        layout = Layout()
        layout.split_column(*parts)
        yield from layout.__rich_console__(console, options.update(height=height))

    def _detail(self, width: int) -> RenderResult:
        c = self.cluster
        yield header(c, self.tz)
        if c.notice:
            yield Text(c.notice, style="bold yellow")
        yield _panel(ring_table(c, width, full_ids=True), "ring (full ids)")
        yield _panel(nodes_table(c), f"nodes ({len(c.nodes)})")
        yield _panel(groups_table(c, every=True), f"groups ({len(shown_groups(c, True))})")
        yield _panel(topics_table(c, every=True), "topics")
        yield _panel(topic_detail_table(c), "topics per daemon")
        yield _panel(sessions_table(c), "sessions")
        if any(v.health.bridges for v in c.daemons):
            yield _panel(bridges_table(c), "bridges (ROS 2, fleet)")
        lines = event_lines(c.events, self.tz, c.logs, full_ids=True)[-20:]
        yield _panel(Group(*lines) if lines else Text("(none)", style="dim"),
                     "events and logs")
        yield _legend(width)


def render_text(cluster: ClusterHealth, width: int = 80, height: int = 24,
                tz: _dt.tzinfo | None = None, detail: bool = False) -> str:
    """The console as plain text (what a test or a log file sees)."""
    buf = io.StringIO()
    console = Console(width=width, height=height, file=buf, force_terminal=True,
                      color_system=None, legacy_windows=False)
    console.print(MonitorView(cluster, tz, detail))
    return buf.getvalue()
