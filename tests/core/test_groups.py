"""Process groups (GroupEngine) on the model EVS ring: what a client of a daemon relies on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_gcs.core import group_wire as gw
from robot_gcs.core.events import Cause, DataMessage, GroupView
from robot_gcs.core.groups import ToClient
from robot_gcs.core.types import RingId, Service
from robot_gcs.errors import LocalProtocolError, MalformedPacket
from robot_gcs.sim.group_fakering import ModelRing


def views(evs, client=None, group=None):
    return [e for c, e in evs if isinstance(e, GroupView) and (client is None or c == client)
            and (group is None or e.group == group)]


def data(evs, client=None):
    return [e for c, e in evs if isinstance(e, DataMessage) and (client is None or c == client)]


def ring_with_clients(n: int = 3, clients=("a",)) -> ModelRing:
    r = ModelRing(n)
    for node in r.live():
        for c in clients:
            r.call(node, "client_connect", c)
    return r


# ---------------------------------------------------------------- names and misuse

def test_group_names_longer_than_64_bytes_are_refused_with_a_typed_error() -> None:
    r = ring_with_clients(1)
    r.call(1, "client_join", "a", "g" * 64)          # exactly 64 bytes is fine
    with pytest.raises(LocalProtocolError, match="64"):
        r.call(1, "client_join", "a", "g" * 65)
    with pytest.raises(LocalProtocolError, match="64"):
        r.call(1, "client_join", "a", "é" * 33)         # 66 bytes of UTF-8


def test_misuse_is_a_local_protocol_error() -> None:
    r = ring_with_clients(1)
    with pytest.raises(LocalProtocolError, match="unknown client"):
        r.call(1, "client_join", "nobody", "g")
    with pytest.raises(LocalProtocolError, match="at least one group"):
        r.call(1, "client_multicast", "a", (), b"x")
    with pytest.raises(LocalProtocolError, match="reserved"):
        r.call(1, "client_join", "a", "#g")
    with pytest.raises(LocalProtocolError, match="already connected"):
        r.call(1, "client_connect", "a")
    with pytest.raises(LocalProtocolError, match="'#'"):
        r.call(1, "client_connect", "x#y")
    with pytest.raises(LocalProtocolError, match="private name"):
        r.call(1, "client_send_private", "a", "notprivate", b"x")


def test_every_envelope_round_trips() -> None:
    msgs = [gw.GData(3, "cli", Service.CAUSAL, ("g1", "#b#d2"), b"\x00payload", -5, True, 77),
            gw.GJoin("g", 1, "c", 9), gw.GLeave("g", 2, "c", 10), gw.GKill(4, "c", 11),
            gw.GState(RingId(1, 8), 2, (("a", ("x", "y")), ("b", ("z",))))]
    for m in msgs:
        assert gw.decode(gw.encode(m)) == m


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_junk_envelopes_only_raise_malformed_packet(raw: bytes) -> None:
    try:
        gw.decode(raw)
    except MalformedPacket as exc:
        assert exc.reason.startswith("g_")


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 4), st.integers(0, 200), st.integers(0, 255), st.integers(0, 200))
def test_truncated_or_flipped_envelopes_only_raise_malformed_packet(which: int, cut: int,
                                                                  flip: int, at: int) -> None:
    msgs = [gw.GData(3, "cli", Service.CAUSAL, ("g1", "#b#d2"), b"payload", -5, True, 77),
            gw.GJoin("g", 1, "c", 9), gw.GLeave("g", 2, "c", 10), gw.GKill(4, "c", 11),
            gw.GState(RingId(1, 8), 2, (("a", ("x", "y")), ("b", ("z",))))]
    raw = bytearray(gw.encode(msgs[which]))
    raw = raw[:cut] if cut < len(raw) else raw
    if raw and at < len(raw):
        raw[at] ^= flip
    try:
        gw.decode(bytes(raw))
    except MalformedPacket as exc:
        assert exc.reason.startswith("g_")


def test_a_bad_envelope_from_the_ring_is_counted_and_dropped() -> None:
    from robot_gcs.core.actions import Deliver
    from robot_gcs.core.types import NodeId
    r = ring_with_clients(2)
    ge = r.groups[1]
    out = ge.on_engine_actions(0.0, [Deliver(NodeId(2), 1, b"\x09junk", Service.AGREED,
                                             RingId(1, 4), 99, False)])
    assert out == []
    assert dict(ge.statistics().drops) == {"g_bad_type": 1}


# ---------------------------------------------------------------- stable operation

def test_a_join_gives_every_member_the_same_view_with_cause_join() -> None:
    r = ring_with_clients(3)
    r.call(1, "client_join", "a", "g")
    r.call(2, "client_join", "a", "g")
    r.run()
    e1, e2, e3 = r.take(1), r.take(2), r.take(3)
    assert [v.members for v in views(e1)] == [("#a#d1",), ("#a#d1", "#a#d2")]
    last1, (only2,) = views(e1)[-1], views(e2)
    assert last1 == only2 and only2.cause is Cause.JOIN and only2.changed == ("#a#d2",)
    assert e3 == []                                  # views go only to members


def test_a_leaver_gets_a_self_leave_notice_and_the_rest_a_leave_view() -> None:
    r = ring_with_clients(2)
    for n in (1, 2):
        r.call(n, "client_join", "a", "g")
    r.run()
    r.take(1), r.take(2)
    r.call(2, "client_leave", "a", "g")
    r.run()
    (v1,), (n2,) = views(r.take(1)), views(r.take(2))
    assert v1.cause is Cause.LEAVE and v1.members == ("#a#d1",) and v1.changed == ("#a#d2",)
    assert n2.members == () and n2.changed == ("#a#d2",) and n2.cause is Cause.LEAVE
    r.call(1, "client_multicast", "a", "g", b"after")
    r.run()
    assert data(r.take(2)) == []                      # no data after leaving


def test_a_client_that_disconnects_mid_stream_leaves_all_its_groups() -> None:
    r = ring_with_clients(2)
    for g in ("g1", "g2"):
        r.call(1, "client_join", "a", g)
        r.call(2, "client_join", "a", g)
    r.run()
    r.take(1), r.take(2)
    r.call(1, "client_multicast", "a", ("g1",), b"m1")
    r.call(2, "client_multicast", "a", ("g1",), b"m2")
    r.call(2, "client_disconnect", "a")
    r.call(1, "client_multicast", "a", ("g1",), b"m3")
    r.run()
    e1, e2 = r.take(1), r.take(2)
    assert sorted(m.payload for m in data(e1)) == [b"m1", b"m2", b"m3"]
    kinds = [e.payload if isinstance(e, DataMessage) else e.cause for _, e in e1]
    assert kinds.index(b"m2") < kinds.index(Cause.DISCONNECT)   # FIFO: m2 before its kill
    assert [(v.group, v.cause, v.members) for v in views(e1)] == [
        ("g1", Cause.DISCONNECT, ("#a#d1",)), ("g2", Cause.DISCONNECT, ("#a#d1",))]
    assert e2 == []                                   # a disconnected client gets nothing


def test_a_client_name_is_reusable_once_its_disconnect_is_ordered() -> None:
    r = ring_with_clients(2)
    r.call(1, "client_join", "a", "g")
    r.call(2, "client_join", "a", "g")
    r.run()
    r.call(1, "client_disconnect", "a")
    with pytest.raises(LocalProtocolError, match="still leaving"):
        r.call(1, "client_connect", "a")
    r.run()
    r.take(1)
    r.call(1, "client_connect", "a")               # the old memberships are gone by now
    r.call(2, "client_multicast", "a", "g", b"to the old a only")
    r.run()
    assert r.take(1) == []


def test_a_message_to_several_groups_takes_one_position_and_arrives_once() -> None:
    r = ring_with_clients(2, clients=("a", "b"))
    r.call(1, "client_join", "a", "g1")
    r.call(1, "client_join", "a", "g2")
    r.call(2, "client_join", "b", "g2")
    r.run()
    r.take(1), r.take(2)
    r.call(2, "client_multicast", "a", ("g1", "g2"), b"both")    # a on d2 is no member: open groups
    r.run()
    e1, e2 = r.take(1), r.take(2)
    assert [(c, e.payload, e.groups) for c, e in e1] == [("a", b"both", ("g1", "g2"))]
    assert [(c, e.sender) for c, e in e2] == [("b", "#a#d2")]


def test_private_messages_reach_exactly_the_named_client() -> None:
    r = ring_with_clients(2, clients=("a", "b"))
    r.call(1, "client_send_private", "a", "#b#d2", b"psst")
    r.call(1, "client_send_private", "a", "#zz#d2", b"lost")
    r.run()
    assert r.take(1) == []
    assert [(c, e.payload, e.groups) for c, e in r.take(2)] == [("b", b"psst", ("#b#d2",))]


def test_self_discard_and_services_and_msg_type() -> None:
    r = ring_with_clients(1, clients=("a", "b"))
    r.call(1, "client_join", "a", "g")
    r.call(1, "client_join", "b", "g")
    r.run()
    r.take(1)
    for svc in Service:
        r.call(1, "client_multicast", "a", "g", svc.name.encode(), svc, 7, True)
    r.run()
    got = r.take(1)
    assert {c for c, _ in got} == {"b"}
    assert [(e.service, e.payload, e.msg_type) for _, e in got] == [
        (s, s.name.encode(), 7) for s in Service]


def test_local_receivers_get_the_local_object_and_remote_ones_the_bytes() -> None:
    r = ring_with_clients(2, clients=("a", "b"))
    for n in (1, 2):
        r.call(n, "client_join", "b", "g")
    r.run()
    r.take(1), r.take(2)
    obj = {"pose": [1.0, 2.0]}
    r.call(1, "client_multicast", "a", "g", b"encoded", Service.FIFO, 0, False, obj)
    r.run()
    (a1,) = r.events[1]
    (a2,) = r.events[2]
    assert a1.event.payload is obj and a1.raw_payload == b"encoded"
    assert a2.event.payload == b"encoded" and a2.raw_payload is None
    assert r.groups[1].statistics().pending_local_payloads == 0


# ---------------------------------------------------------------- configuration changes

def setup_g(r: ModelRing, nodes=(1, 2, 3)) -> None:
    for n in nodes:
        r.call(n, "client_join", "a", "g")
    r.run()
    for n in r.live():
        r.take(n)


def test_a_partition_gives_a_transitional_signal_then_one_network_view_per_side() -> None:
    r = ring_with_clients(3)
    setup_g(r)
    r.reconfigure([{1, 2}, {3}])
    e1, e3 = r.take(1), r.take(3)
    s1, v1 = views(e1)
    assert s1.transitional and not v1.transitional
    assert v1.cause is Cause.NETWORK and v1.members == ("#a#d1", "#a#d2") and v1.changed == ("#a#d3",)
    assert views(e3)[-1].members == ("#a#d3",)
    assert views(r.take(2))[-1] == v1


def test_join_during_a_partition_then_merge_gives_each_side_one_network_view_with_the_union() -> None:
    r = ring_with_clients(4)
    r.reconfigure([{1, 2}, {3, 4}])
    for n in r.live():
        r.take(n)
    r.call(1, "client_join", "a", "g")                # the same group joined on both sides
    r.call(3, "client_join", "a", "g")
    r.call(4, "client_join", "a", "g")
    r.run()
    assert views(r.take(1))[-1].members == ("#a#d1",)
    assert views(r.take(3))[-1].members == ("#a#d3", "#a#d4")
    r.take(4)
    r.reconfigure([{1, 2, 3, 4}])
    finals = {}
    for n in (1, 3, 4):
        vs = [v for v in views(r.take(n)) if not v.transitional]
        assert len(vs) == 1 and vs[0].cause is Cause.NETWORK
        finals[n] = vs[0]
    assert len({(v.view_id, v.members) for v in finals.values()}) == 1
    assert finals[1].members == ("#a#d1", "#a#d3", "#a#d4")
    assert finals[1].changed == ("#a#d3", "#a#d4") and finals[3].changed == ("#a#d1",)


def test_data_and_views_keep_their_order_across_the_state_exchange() -> None:
    r = ring_with_clients(2)
    r.reconfigure([{1}, {2}])
    r.call(1, "client_join", "a", "g")
    r.call(2, "client_join", "a", "g")
    r.run()
    r.take(1), r.take(2)
    r.engines[1].normal_open = False                  # as in GATHER: the lane is closed
    r.call(1, "client_multicast", "a", "g", b"queued")
    r.reconfigure([{1, 2}])
    for n in (1, 2):
        evs = [e for _, e in r.take(n) if not (isinstance(e, GroupView) and e.transitional)]
        assert isinstance(evs[0], GroupView) and evs[0].members == ("#a#d1", "#a#d2")
        assert [e.payload for e in evs[1:]] == [b"queued"]


def test_a_multi_group_message_across_a_view_change_is_delivered_once_in_the_transitional_view() -> None:
    r = ring_with_clients(3)
    for g in ("g1", "g2"):
        for n in (1, 2, 3):
            r.call(n, "client_join", "a", g)
    r.run()
    for n in r.live():
        r.take(n)
    r.hold({1, 2})                                    # node 3 misses what follows
    r.call(1, "client_multicast", "a", ("g1", "g2"), b"edge")
    r.run()
    r.hold(None)
    assert data(r.take(3)) == []
    r.reconfigure([{1, 2}, {3}])
    for n in (1, 2):
        evs = r.take(n)
        assert [m.payload for m in data(evs)] == [b"edge"]
    # node 3 never got it and never will: it was in no transitional set holding it
    assert data(r.take(3)) == []


def test_a_reconfiguration_during_the_exchange_redoes_it() -> None:
    r = ring_with_clients(3)
    r.reconfigure([{1}, {2}, {3}])
    for n in (1, 2, 3):
        r.call(n, "client_join", "a", "g")
    r.run()
    for n in r.live():
        r.take(n)
    # merge {1,2,3}, but the ring changes again before any G_STATE is sequenced
    for n in (1, 2, 3):
        r.engines[n].queue.clear()
    r.reconfigure([{1, 2, 3}])          # exchange starts; its G_STATEs are delivered by run()
    assert all(r.groups[n].phase.value == "operational" for n in (1, 2, 3))
    eng = r.engines[1]
    r.hold({1})
    r.reconfigure([{1, 2}, {3}])
    r.hold(None)
    assert r.groups[1].table.members("g") == r.groups[2].table.members("g") == ("#a#d1", "#a#d2")
    assert r.groups[3].table.members("g") == ("#a#d3",)
    assert eng.normal_open


def test_a_crashed_daemon_s_members_leave_with_cause_network_and_a_restart_rejoins() -> None:
    r = ring_with_clients(3)
    setup_g(r)
    r.crash(3)
    r.reconfigure([{1, 2}])
    (sig, v), = [views(r.take(1))]
    assert sig.transitional and v.members == ("#a#d1", "#a#d2")
    r.restart(3)
    r.call(3, "client_connect", "a")
    r.call(3, "client_join", "a", "g")
    r.reconfigure([{1, 2, 3}])
    r.run()
    assert r.groups[3].table.members("g") == ("#a#d1", "#a#d2", "#a#d3")
    assert r.groups[1].table.snapshot() == r.groups[3].table.snapshot()


def test_to_client_actions_carry_plain_client_names() -> None:
    r = ring_with_clients(1)
    r.call(1, "client_join", "a", "g")
    r.run()
    (act,) = r.events[1]
    assert isinstance(act, ToClient) and act.client == "a"


def test_the_lane_stays_closed_when_one_batch_ends_an_exchange_and_starts_the_next() -> None:
    from robot_gcs.core.actions import Deliver, DeliverConfig
    from robot_gcs.core.types import ConfigKind, NodeId
    from robot_gcs.sim.group_fakering import ModelEngine
    from robot_gcs.core.groups import GroupEngine
    eng = ModelEngine(1, 1)
    ge = GroupEngine(eng, {1: "d1", 2: "d2", 3: "d3"})
    r1, r2 = RingId(1, 4), RingId(1, 8)
    n = (NodeId(1), NodeId(2))
    ge.on_engine_actions(0.0, [DeliverConfig(ConfigKind.TRANSITIONAL, r1, (NodeId(1),)),
                               DeliverConfig(ConfigKind.REGULAR, r1, n)])
    assert not eng.normal_open and ge.phase.value == "exchange"
    states = [Deliver(NodeId(k), 1, gw.encode(gw.GState(r1, k, ())), Service.AGREED, r1, k, False)
              for k in (1, 2)]
    # the engine's install delivers the last state of r1 and, in the same call, r2's
    # configs; it closed the lane when it left r1 (GATHER)
    eng.normal_open = False
    ge.on_engine_actions(0.0, states + [
        DeliverConfig(ConfigKind.TRANSITIONAL, r2, n),
        DeliverConfig(ConfigKind.REGULAR, r2, n + (NodeId(3),))])
    assert not eng.normal_open and ge.phase.value == "exchange"
    assert gw.decode(eng.queue[-1][0]) == gw.GState(r2, 1, ())


def test_a_leave_and_rejoin_in_the_transitional_phase_gets_no_data_until_its_next_view() -> None:
    r = ring_with_clients(3)
    setup_g(r, nodes=(1, 2))
    r.hold({3})
    r.call(3, "client_join", "a", "other")           # a gap for nodes 1 and 2
    r.run()
    r.call(1, "client_leave", "a", "g")
    r.call(1, "client_join", "a", "g")
    r.call(2, "client_multicast", "a", "g", b"while away")
    r.run()
    r.hold(None)
    r.reconfigure([{1, 2}, {3}])
    evs = r.take(1)
    assert data(evs) == []                             # left, re-joined, no view yet: nothing
    notice, final = [v for v in views(evs) if not v.transitional]
    assert notice.members == () and final.cause is Cause.NETWORK
    assert final.members == ("#a#d1", "#a#d2")
    r.call(2, "client_multicast", "a", "g", b"back")
    r.run()
    assert [m.payload for m in data(r.take(1))] == [b"back"]
