"""Node behaviour a robot programmer relies on, on an in-memory totally ordered bus."""

from __future__ import annotations

import pytest

from robot_gcs.core.events import Cause, GroupView
from robot_gcs.core.types import Service
from robot_gcs.errors import LocalProtocolError
from robot_gcs.pubsub.node import Node
from robot_gcs.pubsub.qos import QoS

from pubsub_fakebus import FakeBus, FakeClock, Odom, OdomV2


class Daemonish:
    """Something with connect(name), like robot_gcs.Daemon."""

    def __init__(self, bus: FakeBus, name: str) -> None:
        self.bus, self.name = bus, name

    def connect(self, client: str):
        return self.bus.connect(client, self.name)


def make(bus: FakeBus, name: str, daemon: str = "d1", clock: FakeClock | None = None) -> Node:
    return Node(name, Daemonish(bus, daemon), clock=clock or FakeClock())


def test_typed_messages_reach_remote_subscribers_decoded() -> None:
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2")
    got: list[Odom] = []
    b.create_subscription("/odom", got.append, msg_type=Odom)
    pub = a.create_publisher("/odom", Odom, QoS.sensor(depth=5))
    pub.publish(Odom(1.0, 2.0))
    b.spin_once()
    assert got == [Odom(1.0, 2.0)]
    assert bus.sent[-1][2] is Service.FIFO


def test_same_process_subscribers_get_the_publishers_object() -> None:
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d1")
    got: list[object] = []
    b.create_subscription("/odom", got.append, msg_type=Odom)
    msg = Odom(1.0, 2.0)
    a.create_publisher("/odom", Odom).publish(msg)
    b.spin_once()
    assert got[0] is msg


def test_keep_last_drops_oldest_and_counts_never_stalls() -> None:
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2")
    got: list[Odom] = []
    sub = b.create_subscription("/odom", got.append, QoS.sensor(depth=1), msg_type=Odom)
    pub = a.create_publisher("/odom", Odom, QoS.sensor())
    for i in range(5):
        pub.publish(Odom(float(i), 0.0))
    b.spin_once()
    assert got == [Odom(4.0, 0.0)]
    assert sub.dropped == 4 and sub.count == 1
    st = {(s.topic, s.role): s for s in b.statistics()}[("/odom", "sub")]
    assert st.dropped == 4 and st.count == 1


def test_order_across_topics_is_kept_when_keep_last_drops() -> None:
    bus = FakeBus()
    ctl, obs = make(bus, "ctl", "d1"), make(bus, "obs", "d2")
    seen: list[str] = []
    obs.create_subscription("/odom", lambda m: seen.append(f"odom{m.x:.0f}"), QoS.sensor(depth=1), Odom)
    obs.create_subscription("/cmd", lambda m: seen.append(m.decode()), QoS(depth=100), bytes)
    obs.create_subscription(bytes, "/estop", lambda m: seen.append("ESTOP"), QoS(service="safe"))
    odom = ctl.create_publisher("/odom", Odom, QoS.sensor())
    cmd = ctl.create_publisher("/cmd", bytes)
    estop = ctl.create_publisher(bytes, "/estop", QoS(service="safe"))
    odom.publish(Odom(1.0, 0))
    cmd.publish(b"c1")
    odom.publish(Odom(2.0, 0))
    cmd.publish(b"c2")
    estop.publish(b"")
    cmd.publish(b"c3")
    obs.spin_once()
    assert seen == ["c1", "odom2", "c2", "ESTOP", "c3"]


def test_type_mismatch_is_a_clear_error_and_a_statistic_not_garbage() -> None:
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2")
    got, errors = [], []
    sub = b.create_subscription("/odom", got.append, msg_type=OdomV2, on_error=errors.append)
    a.create_publisher("/odom", Odom).publish(Odom(1.0, 2.0))
    b.spin_once()
    assert got == []
    assert len(errors) == 1 and "type mismatch on /odom" in str(errors[0])
    assert "#a#d1" in str(errors[0])
    assert sub.type_errors == 1 and "mismatch" in sub.statistics(0.0).last_error


def test_type_mismatch_also_caught_in_process() -> None:
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d1")
    got = []
    sub = b.create_subscription("/odom", got.append, msg_type=bytes)     # raw bytes subscriber
    a.create_publisher("/odom", Odom).publish(Odom(1.0, 2.0))
    b.spin_once()
    assert got == [] and sub.type_errors == 1


def test_junk_on_a_topic_group_is_counted_and_dropped() -> None:
    bus = FakeBus()
    b = make(bus, "b", "d2")
    got = []
    b.create_subscription("/odom", got.append, msg_type=bytes)
    rogue = bus.connect("rogue", "d3")
    rogue.multicast("t:/odom", b"not an envelope", msg_type=84)
    b.spin_once()
    assert got == [] and b.bad_messages == 1


def test_latched_value_reaches_a_late_joiner_once() -> None:
    bus = FakeBus()
    pubn, early = make(bus, "map", "d1"), make(bus, "early", "d2")
    got_early: list[bytes] = []
    early.create_subscription("/map", got_early.append, QoS(latched=True), bytes)
    pub = pubn.create_publisher("/map", bytes, QoS(latched=True))
    pub.publish(b"v1")
    pub.publish(b"v2")
    late = make(bus, "late", "d3")
    got_late: list[bytes] = []
    late.create_subscription("/map", got_late.append, QoS(latched=True), bytes)
    pubn.spin_once()          # sees the late joiner's view: hands v2 over
    early.spin_once()
    late.spin_once()
    assert got_late == [b"v2"]
    assert got_early == [b"v1", b"v2"]       # the hand-over is a duplicate for it: dropped
    assert pub.handovers == 1


def test_deadline_miss_is_flagged_once_per_silence_and_only_once_a_publisher_exists() -> None:
    bus = FakeBus()
    clock = FakeClock()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2", clock)
    misses: list[tuple[str, float]] = []
    sub = b.create_subscription("/odom", lambda m: None, QoS(deadline=0.1), bytes,
                                on_deadline=lambda t, s: misses.append((t, s)))
    clock.advance(5.0)                   # nobody publishes /odom yet: silence is not late
    b.spin_once()
    assert misses == [] and b.spin_once() == 0
    pub = a.create_publisher("/odom", bytes)
    b.spin_once()                        # its announcement arms the deadline
    clock.advance(0.05)
    b.spin_once()
    assert misses == []
    clock.advance(0.1)
    b.spin_once()
    b.spin_once()
    assert len(misses) == 1 and misses[0][0] == "/odom" and sub.deadline_misses == 1
    pub.publish(b"x")
    b.spin_once()
    clock.advance(0.2)
    b.spin_once()
    assert sub.deadline_misses == 2
    pub.publish(b"y")
    b.spin_once()
    a.destroy()                          # stopped on purpose (DISCONNECT): not late
    b.spin_once()
    clock.advance(1.0)
    b.spin_once()
    assert sub.deadline_misses == 2


def test_a_lost_publisher_still_misses_its_deadline() -> None:
    bus = FakeBus()
    clock = FakeClock()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2", clock)
    sub = b.create_subscription(bytes, "/odom", lambda m: None, QoS(deadline=0.1))
    pub = a.create_publisher(bytes, "/odom")
    pub.publish(b"x")
    b.spin_once()
    bus.disconnect(a.session, Cause.NETWORK)          # its processor was lost
    b.spin_once()
    clock.advance(0.2)
    b.spin_once()
    assert sub.deadline_misses == 1


def test_timers_fire_periodically_and_skip_overruns() -> None:
    bus = FakeBus()
    clock = FakeClock()
    n = make(bus, "n", clock=clock)
    ticks: list[float] = []
    t = n.create_timer(0.01, lambda: ticks.append(clock()))
    for _ in range(3):
        clock.advance(0.01)
        n.spin_once()
    assert len(ticks) == 3
    clock.advance(0.055)             # a stall: one call, the missed periods are skipped
    n.spin_once()
    assert len(ticks) == 4 and t.overruns >= 4
    t.cancel()
    clock.advance(0.1)
    n.spin_once()
    assert len(ticks) == 4


def test_group_handlers_see_views_and_messages_in_order() -> None:
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2")
    events: list[object] = []
    a.join_group("ctl", events.append)
    b.join_group("ctl", lambda e: None)
    b.multicast("ctl", b"hello")
    a.spin_once()
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["GroupView", "GroupView", "DataMessage"]
    assert isinstance(events[1], GroupView) and events[1].members == ("#a#d1", "#b#d2")


def test_undeclared_topics_are_rejected_when_the_launch_file_restricts_them() -> None:
    bus = FakeBus()
    n = Node("n", bus.connect("n"), allowed_topics=["/odom"])
    n.create_publisher("/odom", bytes)
    with pytest.raises(LocalProtocolError, match="not declared in the launch file; did you mean '/odom'"):
        n.create_publisher("/odm", bytes)


def test_undeclared_groups_are_rejected_when_the_launch_file_restricts_them() -> None:
    bus = FakeBus()
    n = Node("n", bus.connect("n"), allowed_groups=["ctl"])
    n.join_group("ctl", lambda e: None)
    n.join_group("t:/odom", lambda e: None)          # topic groups are governed by topics
    with pytest.raises(LocalProtocolError, match="not declared"):
        n.join_group("ctrl", lambda e: None)


def test_registry_lists_every_nodes_endpoints() -> None:
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2")
    a.create_publisher("/odom", Odom)
    b.create_subscription("/odom", lambda m: None, msg_type=Odom)
    tool = make(bus, "tool", "d1")
    for n in (a, b, tool):
        n.spin_once()
    tool.spin_once()
    g = tool.graph()
    assert g["#a#d1"].pubs[0].topic == "/odom"
    assert g["#b#d2"].subs[0].type_path.endswith(":Odom")
    b.destroy()
    tool.spin_once()
    assert "#b#d2" not in tool.graph()


def test_destroyed_node_leaves_its_groups() -> None:
    bus = FakeBus()
    a = make(bus, "a")
    a.create_subscription("/odom", lambda m: None, msg_type=bytes)
    a.destroy()
    assert all("#a#d1" not in m for m in bus.groups.values())
    with pytest.raises(LocalProtocolError):
        a.create_publisher("/x", bytes)


def test_a_publish_refused_with_backpressure_leaves_no_gap() -> None:
    """A recorder counts gaps in a publisher's sequence numbers as missed messages; a
    value the daemon refused (Backpressure) and published again must not look missed."""
    from robot_gcs.errors import Backpressure
    bus = FakeBus()
    a, b = make(bus, "a", "d1"), make(bus, "b", "d2")
    got: list[Odom] = []
    b.create_subscription("/odom", got.append, msg_type=Odom)
    pub = a.create_publisher("/odom", Odom)
    pub.publish(Odom(1.0, 0.0))
    send = a.session.multicast

    def full(*args: object, **kw: object) -> None:
        raise Backpressure("full")
    a.session.multicast = full                        # type: ignore[method-assign]
    with pytest.raises(Backpressure):
        pub.publish(Odom(2.0, 0.0))
    a.session.multicast = send                        # type: ignore[method-assign]
    pub.publish(Odom(2.0, 0.0))
    b.spin_once()
    assert got == [Odom(1.0, 0.0), Odom(2.0, 0.0)]
    assert pub.seq == 2                               # 1, 2: no number for the refusal


def _refuse_ordinary_messages(node: Node) -> None:
    """From now on ``node``'s session refuses every message but priority ones, as a full
    send queue does (Backpressure)."""
    from robot_gcs.errors import Backpressure
    send = node.session.multicast

    def refuse_normal(*args: object, **kw: object) -> None:
        if kw.get("priority") is not True:
            raise Backpressure("full")
        send(*args, **kw)
    node.session.multicast = refuse_normal              # type: ignore[method-assign]


def test_a_full_send_queue_never_raises_out_of_spin_for_the_nodes_own_announcements() -> None:
    """A node announces its endpoints when others join the registry, from inside
    spin_once. A send queue that refuses ordinary messages at that moment (a busy ring
    at start-up) must neither raise Backpressure into the program's spin loop nor lose
    the announcement: it goes as a priority message, which the daemon never refuses."""
    bus = FakeBus()
    a = make(bus, "a", "d1")
    a.create_publisher("/odom", Odom)
    a.spin_once()
    _refuse_ordinary_messages(a)
    tool = make(bus, "tool", "d2")                      # a newcomer in the registry
    a.spin_once()                                       # announces again: must not raise
    tool.spin_once()
    assert tool.graph()["#a#d1"].pubs[0].topic == "/odom"


def test_a_latched_hand_over_from_spin_is_never_refused() -> None:
    bus = FakeBus()
    a = make(bus, "a", "d1")
    pub = a.create_publisher("/map", Odom, qos=QoS(latched=True))
    pub.publish(Odom(1.0, 2.0))
    a.spin_once()
    _refuse_ordinary_messages(a)
    got: list[Odom] = []
    b = make(bus, "b", "d2")
    b.create_subscription("/map", got.append, msg_type=Odom, qos=QoS(latched=True))
    a.spin_once()                                       # hands the value over: no raise
    b.spin_once()
    assert got == [Odom(1.0, 2.0)]
