"""The group checker flags each broken guarantee (synthetic traces that MUST fail)."""

from __future__ import annotations

from robot_gcs.core.events import Cause, DataMessage, GroupView
from robot_gcs.core.types import Service
from robot_gcs.sim.group_checker import GroupChecker

A, B, C = (1, 1, "a"), (2, 1, "b"), (3, 1, "c")
NA, NB, NC = "#a#d1", "#b#d2", "#c#d3"
V1 = (1, 4, 1)
V2 = (1, 4, 2)


def view(members, vid=V1, cause=Cause.JOIN, changed=(), group="g", transitional=False):
    return GroupView(group, vid, tuple(members), cause, tuple(changed), transitional)


def msg(sender_name, mid_groups=("g",), service=Service.AGREED):
    return DataMessage(sender_name, tuple(mid_groups), service, b"x")


def invariants(ch: GroupChecker) -> set[str]:
    return {v.invariant for v in ch.check()}


def base() -> GroupChecker:
    ch = GroupChecker()
    for k, n in ((A, NA), (B, NB)):
        ch.received(k, n, view((NA, NB)))
    return ch


def test_a_clean_trace_passes() -> None:
    ch = base()
    ch.sent(A, NA, "m1", ("g",), Service.AGREED, False)
    ch.sent(A, NA, "m2", ("g",), Service.CAUSAL, False)
    for k, n in ((A, NA), (B, NB)):
        ch.received(k, n, msg(NA), "m1")
        ch.received(k, n, msg(NA, service=Service.CAUSAL), "m2")
    assert ch.check() == []


def test_different_member_lists_for_one_view_id_are_flagged() -> None:
    ch = GroupChecker()
    ch.received(A, NA, view((NA, NB)))
    ch.received(B, NB, view((NA, NB, NC)))
    assert "view_agreement" in invariants(ch)


def test_a_view_to_a_non_member_is_flagged() -> None:
    ch = GroupChecker()
    ch.received(C, NC, view((NA, NB)))
    assert "view_to_member" in invariants(ch)


def test_a_network_view_without_a_transitional_signal_is_flagged() -> None:
    ch = base()
    ch.received(A, NA, view((NA,), (2, 8, 1), Cause.NETWORK))
    assert "signal_before_network" in invariants(ch)
    ok = base()
    ok.received(A, NA, view((NA, NB), V1, Cause.NETWORK, transitional=True))
    ok.received(A, NA, view((NA,), (2, 8, 1), Cause.NETWORK))
    assert ok.check() == []


def test_data_to_a_non_member_twice_altered_or_invented_is_flagged() -> None:
    ch = base()
    ch.sent(A, NA, "m", ("g",), Service.AGREED, False)
    ch.received(C, NC, msg(NA), "m")
    assert "data_to_member" in invariants(ch)
    ch = base()
    ch.sent(A, NA, "m", ("g",), Service.AGREED, False)
    ch.received(B, NB, msg(NA), "m")
    ch.received(B, NB, msg(NA), "m")
    assert "once" in invariants(ch)
    ch = base()
    ch.received(B, NB, msg(NA), "never-sent")
    ch.sent(A, NA, "m", ("g",), Service.AGREED, False)
    ch.received(B, NB, msg(NA, service=Service.SAFE), "m")
    assert "integrity" in invariants(ch)


def test_self_discard_is_checked() -> None:
    ch = base()
    ch.sent(A, NA, "m", ("g",), Service.AGREED, True)
    ch.received(A, NA, msg(NA), "m")
    assert "self_discard" in invariants(ch)


def test_a_message_in_different_regular_views_is_flagged() -> None:
    ch = base()
    ch.sent(A, NA, "m", ("g",), Service.AGREED, False)
    ch.received(A, NA, view((NA, NB), V2))
    ch.received(A, NA, msg(NA), "m")
    ch.received(B, NB, msg(NA), "m")
    ch.received(B, NB, view((NA, NB), V2))
    assert "same_view" in invariants(ch)


def test_two_clients_disagreeing_on_order_is_a_cycle() -> None:
    ch = base()
    ch.sent(A, NA, "m1", ("g",), Service.AGREED, False)
    ch.sent(B, NB, "m2", ("g",), Service.SAFE, False)
    ch.received(A, NA, msg(NA), "m1")
    ch.received(A, NA, msg(NB, service=Service.SAFE), "m2")
    ch.received(B, NB, msg(NB, service=Service.SAFE), "m2")
    ch.received(B, NB, msg(NA), "m1")
    assert "total_order" in invariants(ch)


def test_fifo_and_causal_breaks_are_flagged() -> None:
    ch = base()
    ch.sent(A, NA, "m1", ("g",), Service.FIFO, False)
    ch.sent(A, NA, "m2", ("g",), Service.FIFO, False)
    ch.received(B, NB, msg(NA, service=Service.FIFO), "m2")
    ch.received(B, NB, msg(NA, service=Service.FIFO), "m1")
    assert "fifo" in invariants(ch)
    # causal: b replies to a's m1; c must not see the reply before m1
    ch = base()
    ch.received(C, NC, view((NA, NB, NC), V2))
    ch.sent(A, NA, "m1", ("g",), Service.CAUSAL, False)
    ch.received(B, NB, msg(NA, service=Service.CAUSAL), "m1")
    ch.sent(B, NB, "r1", ("g",), Service.CAUSAL, False)
    ch.received(C, NC, msg(NB, service=Service.CAUSAL), "r1")
    ch.received(C, NC, msg(NA, service=Service.CAUSAL), "m1")
    assert "causal" in invariants(ch)
