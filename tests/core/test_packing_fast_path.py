"""The packer's one-message fast path never changes what a token visit sends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from robot_gcs.core.packing import CHUNK, Packer, decode_chunks
from robot_gcs.core.types import Lane, Service

CAP = 300


def test_a_control_message_still_shares_its_packet_with_an_open_normal_lane() -> None:
    p = Packer(CAP, 100, 10**6)
    p.submit(b"n1", Service.AGREED, Lane.NORMAL)
    p.submit(b"c1", Service.AGREED, Lane.CONTROL)
    (svc, payload), = p.take(5)
    assert svc is Service.AGREED
    assert [c.data for c in decode_chunks(payload)] == [b"c1", b"n1"]


def test_a_lone_control_message_waits_for_nothing_when_the_normal_lane_is_closed() -> None:
    p = Packer(CAP, 100, 10**6)
    p.normal_open = False
    p.submit(b"n1", Service.AGREED, Lane.NORMAL)
    p.submit(b"c1", Service.AGREED, Lane.CONTROL)
    assert p.take(5) == [(Service.AGREED, CHUNK.pack(2, 0, 1, 2) + b"c1")]
    assert p.take(5) == [] and len(p) == 1


ops = st.lists(st.one_of(
    st.tuples(st.just("submit"), st.binary(max_size=2 * CAP), st.sampled_from([Service.AGREED,
              Service.SAFE]), st.sampled_from([Lane.CONTROL, Lane.NORMAL])),
    st.tuples(st.just("take"), st.integers(0, 4)),
    st.tuples(st.just("lane"), st.booleans())), max_size=40)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_every_message_is_sent_once_in_lane_order_within_the_packet_budget(
        script: list[tuple[object, ...]]) -> None:
    p = Packer(CAP, 1000, 10**6)
    sent: dict[int, bytes] = {}
    got: dict[int, list[bytes]] = {}
    order: list[int] = []
    for op in script:
        if op[0] == "submit":
            sent[p.next_msg_id] = op[1]          # type: ignore[assignment]
            p.submit(op[1], op[2], op[3])        # type: ignore[arg-type]
        elif op[0] == "lane":
            p.normal_open = bool(op[1])
        else:
            n = int(op[1])                       # type: ignore[call-overload]
            packets = p.take(n)
            assert len(packets) <= n
            for _svc, payload in packets:
                assert len(payload) <= CAP
                for c in decode_chunks(payload):
                    got.setdefault(c.msg_id, []).append(c.data)
                    if c.frag_idx == c.frag_cnt - 1:
                        order.append(c.msg_id)
    p.normal_open = True
    while p.has_work():
        for _svc, payload in p.take(3):
            for c in decode_chunks(payload):
                got.setdefault(c.msg_id, []).append(c.data)
                if c.frag_idx == c.frag_cnt - 1:
                    order.append(c.msg_id)
    assert {k: b"".join(v) for k, v in got.items()} == sent
    assert sorted(order) == sorted(sent) and len(order) == len(set(order))
