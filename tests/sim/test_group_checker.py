"""The group checker flags each broken guarantee (synthetic traces that MUST fail)."""

from __future__ import annotations

from robot_gcs.core.events import Cause, DataMessage, GroupView
from robot_gcs.core.types import Service
from robot_gcs.sim.group_checker import GroupChecker

A, B, C = (1, 1, "a"), (2, 1, "b"), (3, 1, "c")
NA, NB, NC = "#a#d1", "#b#d2", "#c#d3"
V1 = (1, 4, 1)
V2 = (1, 4, 2)


def view(members, vid=V1, cause=Cause.NETWORK, changed=(), group="g", transitional=False):
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
    ok.received(A, NA, view((NA,), (2, 8, 1), Cause.NETWORK, changed=(NB,)))
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


def signalled(ch: GroupChecker, key=A, name=NA, members=(NA, NB), vid=V1) -> GroupChecker:
    ch.received(key, name, view(members, vid, Cause.NETWORK, transitional=True))
    return ch


def test_a_network_view_must_list_leavers_and_joiners_in_changed() -> None:
    ch = signalled(base())
    ch.received(A, NA, view((NA, NC), (2, 8, 1), changed=(NC,)))      # NB left: not listed
    assert invariants(ch) == {"view_changed"}
    ok = signalled(base())
    ok.received(A, NA, view((NA, NC), (2, 8, 1), changed=(NB, NC)))
    assert ok.check() == []


def test_join_leave_and_disconnect_views_change_the_member_that_asked() -> None:
    ok = base()
    ok.requested(NC, "join", "g")
    ok.received(A, NA, view((NA, NB, NC), V2, Cause.JOIN, (NC,)))
    ok.received(C, NC, view((NA, NB, NC), V2, Cause.JOIN, (NC,)))
    ok.requested(NB, "leave", "g")
    ok.received(A, NA, view((NA, NC), (1, 4, 3), Cause.LEAVE, (NB,)))
    ok.received(B, NB, view((), (1, 4, 3), Cause.LEAVE, (NB,)))
    ok.requested(NC, "disconnect")
    ok.received(A, NA, view((NA,), (1, 4, 4), Cause.DISCONNECT, (NC,)))
    assert ok.check() == []
    # a disconnect reported as a leave, a leave nobody asked for, a self-leave notice
    # without a request
    ch = base()
    ch.requested(NB, "disconnect")
    ch.received(A, NA, view((NA,), V2, Cause.LEAVE, (NB,)))
    assert invariants(ch) == {"view_cause"}
    ch = base()
    ch.received(B, NB, view((), V2, Cause.LEAVE, (NB,)))
    assert invariants(ch) == {"view_cause"}
    ch = base()
    ch.requested(NC, "join", "g")
    ch.requested(NC, "join", "g", undo=True)           # the daemon refused it
    ch.received(A, NA, view((NA, NB, NC), V2, Cause.JOIN, (NC,)))
    assert invariants(ch) == {"view_cause"}


def test_view_index_matches_the_cause() -> None:
    ch = base()
    ch.requested(NC, "join", "g")
    ch.received(A, NA, view((NA, NB, NC), (2, 8, 1), Cause.JOIN, (NC,)))
    assert invariants(ch) == {"view_cause"}
    ch = signalled(base())
    ch.received(A, NA, view((NA,), (2, 8, 3), Cause.NETWORK, (NB,)))
    assert invariants(ch) == {"view_cause"}


def test_a_join_view_changes_exactly_one_member_and_a_signal_none() -> None:
    ch = base()
    ch.requested(NC, "join", "g")
    ch.received(A, NA, view((NA, NC), V2, Cause.JOIN, (NB, NC)))
    assert "view_changed" in invariants(ch)
    ch = base()
    ch.received(A, NA, view((NA, NB), V1, Cause.NETWORK, (NB,), transitional=True))
    assert invariants(ch) == {"view_changed"}
    ch = base()
    ch.requested(NC, "join", "g")
    ch.requested(NA, "join", "g")
    ch.received(C, NC, view((NA, NB, NC), V2, Cause.JOIN, (NA,)))     # c's first view
    assert "view_changed" in invariants(ch)
