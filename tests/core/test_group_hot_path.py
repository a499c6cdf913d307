"""The group layer's hot paths give exactly what the general code gives.

The sender of a G_DATA skips decoding its own envelope when it comes back in the order
(it remembers the fields); every other daemon decodes the bytes. Both must deliver the
same event, so these tests pin the envelope encoder/decoder pair and compare a daemon's
own delivery with a peer's delivery of the very same ordered message.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from robot_gcs.core import group_wire as gw
from robot_gcs.core.actions import Deliver, SetTimer
from robot_gcs.core.engine import Engine
from robot_gcs.core.events import DataMessage
from robot_gcs.core.groups import GroupEngine, ToClient
from robot_gcs.core.params import EngineConfig
from robot_gcs.core.types import MemberState, NodeId, Service, TimerId

names = st.text(st.characters(blacklist_characters="#", blacklist_categories=("Cs",)),
                min_size=1, max_size=16).filter(lambda s: len(s.encode()) <= 64)


@settings(max_examples=200, deadline=None)
@given(daemon=st.integers(1, 2**32 - 1), client=names,
       groups=st.lists(names, min_size=1, max_size=5),
       service=st.sampled_from(list(Service)), msg_type=st.integers(-32768, 32767),
       self_discard=st.booleans(), op_id=st.integers(0, 2**32 - 1),
       payload=st.binary(max_size=300))
def test_data_envelope_round_trips_through_both_encoders(
        daemon: int, client: str, groups: list[str], service: Service, msg_type: int,
        self_discard: bool, op_id: int, payload: bytes) -> None:
    msg = gw.GData(daemon, client, service, tuple(groups), payload, msg_type, self_discard,
                   op_id)
    data = gw.encode(msg)
    fast = gw.encode_data(gw.data_prefix(daemon, client), service, self_discard, msg_type,
                          op_id, tuple(gw.name_field(g) for g in groups), payload)
    assert fast == data
    assert gw.decode(data) == msg
    fields = gw.decode_data_fields(data)
    assert fields == (daemon, client, service, tuple(groups), payload, msg_type,
                      self_discard, op_id)
    assert type(fields[2]) is Service and type(fields[4]) is bytes


def _singleton(node: int, names: dict[int, str]) -> tuple[GroupEngine, float]:
    ge = GroupEngine(Engine(EngineConfig(peers=(NodeId(node),), auto_open_lane=False),
                            node, 1, None, 3), names, keep_deliveries=True)
    timers: dict[TimerId, float] = {}
    now = 0.0

    def run(acts: list[object]) -> None:
        for a in acts:
            if isinstance(a, SetTimer):
                timers[a.timer_id] = a.deadline

    run(ge.start(now))
    while ge.engine.state is not MemberState.OPERATIONAL or ge.phase.value != "operational":
        tid, now = min(timers.items(), key=lambda kv: (kv[1], kv[0].value))
        del timers[tid]
        run(ge.handle_timer(now, tid))
        assert now < 20.0
    return ge, now


CASES = [(("g",), Service.AGREED, 0, False), (("g", "h", "g"), Service.SAFE, -7, False),
         (("#rx#b1", "g"), Service.FIFO, 32767, True), (("g",), 4, 3, 1),
         (("h", "#tx#b1"), Service.CAUSAL, -32768, False)]


def test_own_delivery_equals_decoding_the_ordered_bytes() -> None:
    """Twin daemons get identical input; one forgets its own envelopes before each
    delivery (so it decodes them): both must hand clients the very same events."""
    names = {1: "b1"}
    (fast, now), (slow, _) = _singleton(1, names), _singleton(1, names)
    for ge in (fast, slow):
        for c in ("tx", "rx"):
            ge.client_connect(now, c)
        for c, g in (("tx", "g"), ("rx", "g"), ("rx", "h")):
            ge.client_join(now, c, g)
        ge.handle_timer(now, TimerId.TOKEN_HOLD)
    for targets, service, msg_type, discard in CASES * 3:
        now += 0.001
        outs = []
        for ge in (fast, slow):
            ge.client_multicast(now, "tx", targets, b"\x01payload", service, msg_type, discard)
            if ge is slow:
                slow._own_sent.clear()
            outs.append(ge.handle_timer(now, TimerId.TOKEN_HOLD))
        assert repr(outs[0]) == repr(outs[1])
        events = [a.event for a in outs[0] if isinstance(a, ToClient)]
        assert events and all(isinstance(e, DataMessage) for e in events)
        dels = [a for a in outs[0] if isinstance(a, Deliver)]
        assert len(dels) == 1 and len(events) == 2 - bool(discard)
        decoded = gw.decode(dels[0].payload)
        assert isinstance(decoded, gw.GData)
        assert events[0] == DataMessage("#tx#b1", decoded.groups, decoded.service,
                                        decoded.payload, decoded.msg_type)
        assert type(events[0].msg_type) is int and type(events[0].service) is Service
    assert fast._own_sent == {} and fast.statistics() == slow.statistics()
    assert fast.statistics().drops == ()
