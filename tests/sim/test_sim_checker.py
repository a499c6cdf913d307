"""The invariant checker flags each broken guarantee (and stays quiet on a good trace)."""

from __future__ import annotations

from robot_gcs.core.types import RingId, Service
from robot_gcs.sim import ring_invariants as ck
from robot_gcs.sim import trace as tr
from robot_gcs.sim.checker import LivenessWindow, RunRecord, Violation, check_run
from robot_gcs.sim.ring_invariants import RingInvariants

from .synthetic import R1, R2, REG, TRANS, Baseline, TraceBuilder


def flagged(run: RunRecord) -> set[str]:
    return {v.invariant for v in check_run(run, [RingInvariants()])}


def test_a_correct_trace_passes_every_invariant() -> None:
    assert check_run(Baseline().build(), [RingInvariants()]) == []
    assert check_run(Baseline().build(n3_crashes=False, windows=False), [RingInvariants()]) == []


def test_integrity_flags_a_message_nobody_submitted() -> None:
    def forged(b: TraceBuilder) -> None:
        b.deliver(2, 1, b"SIMP-forged-bytes-that-were-never-sent", R2, 2)
    got = flagged(Baseline().build(extra_r2=[forged]))
    assert ck.INTEGRITY in got


def test_integrity_flags_a_corrupted_payload() -> None:
    base = Baseline()

    def flipped(b: TraceBuilder) -> None:
        bad = bytearray(base.m4)
        bad[-1] ^= 1
        b.deliver(2, 1, bytes(bad), R2, 2)
    assert ck.INTEGRITY in flagged(base.build(extra_r2=[flipped]))


def test_duplicate_delivery_is_flagged() -> None:
    base = Baseline()
    run = base.build(extra_r2=[lambda b: b.deliver(2, 1, base.m4, R2, 1)])
    assert flagged(run) == {ck.NO_DUPLICATION}


def test_total_order_flags_a_cycle_between_two_receivers() -> None:
    base = Baseline()

    def two(b: TraceBuilder) -> None:
        b.at(3.1)
        x, y = b.submit(1), b.submit(2)
        b.deliver(1, 1, x, R2, 2)
        b.deliver(1, 2, y, R2, 2)
        b.deliver(2, 2, y, R2, 2)     # same packet, chunks in the other order
        b.deliver(2, 1, x, R2, 2)
    got = check_run(base.build(extra_r2=[two]), [RingInvariants([ck.TOTAL_ORDER])])
    assert [v.invariant for v in got] == [ck.TOTAL_ORDER]
    assert "cycle" in got[0].message


def test_total_order_flags_a_message_at_two_positions_and_seq_going_back() -> None:
    base = Baseline()

    def moved(b: TraceBuilder) -> None:
        b.at(3.1)
        x, y = b.submit(1), b.submit(1)
        b.deliver(1, 1, x, R2, 2)
        b.deliver(1, 1, y, R2, 3)
        b.deliver(2, 1, x, R2, 4)
        b.deliver(2, 1, y, R2, 3)
    msgs = [v.message for v in check_run(base.build(extra_r2=[moved]),
                                          [RingInvariants([ck.TOTAL_ORDER])])]
    assert any("seq 2" in m and "seq 4" in m for m in msgs)
    assert any("after seq 4" in m for m in msgs)


def test_fifo_flags_a_gap_in_a_senders_sequence() -> None:
    def gap(b: TraceBuilder) -> None:
        b.at(3.1)
        x, y = b.submit(1), b.submit(1)
        b.deliver(1, 1, x, R2, 2)
        b.deliver(1, 1, y, R2, 3)
        b.deliver(2, 1, y, R2, 3)     # n2 skipped x but got y
    assert flagged(Baseline().build(extra_r2=[gap])) == {ck.FIFO}


def test_fifo_flags_messages_delivered_out_of_submission_order() -> None:
    def inverted(b: TraceBuilder) -> None:
        b.at(3.1)
        x, y = b.submit(1), b.submit(1)
        for n in (1, 2):
            b.deliver(n, 1, y, R2, 2)
            b.deliver(n, 1, x, R2, 3)
    assert flagged(Baseline().build(extra_r2=[inverted])) == {ck.FIFO}


def test_configuration_agreement_flags_disagreeing_members_and_missing_self() -> None:
    b = TraceBuilder()
    for n in (1, 2):
        b.start(n)
        b.persist(n, 4)
    b.config(1, REG, R1, (1, 2))
    b.config(2, REG, R1, (1, 2, 3))            # same ring id, other members
    b.persist(1, 8)
    b.config(1, TRANS, R2, (2,), left=(1,))    # transitional without self
    b.config(1, REG, R2, (2,))
    msgs = [v.message for v in check_run(b.run(), [RingInvariants([ck.CONFIG_AGREEMENT])])]
    assert any("n2 has members [1, 2, 3]" in m or "n1 has members" in m for m in msgs)
    assert any("does not include n1" in m for m in msgs)


def test_configuration_agreement_flags_ring_seq_reuse_and_install_before_persist() -> None:
    b = TraceBuilder()
    b.start(1, persisted=8)
    b.config(1, REG, RingId(1, 8), (1,))       # not above the persisted seq, never persisted
    b.start(2)
    b.persist(2, 12)
    b.config(2, REG, RingId(2, 12), (2,))
    b.config(2, TRANS, RingId(2, 4), (2,))
    b.config(2, REG, RingId(2, 4), (2,))       # ring seq went backwards
    msgs = [v.message for v in check_run(b.run(), [RingInvariants([ck.CONFIG_AGREEMENT])])]
    assert any("reuses a ring seq" in m for m in msgs)
    assert any("went from 2.12 to 2.4" in m for m in msgs)


def test_configuration_agreement_flags_transitional_not_within_both_rings() -> None:
    b = TraceBuilder()
    b.start(1)
    b.persist(1, 8)
    b.config(1, REG, R1, (1, 2))
    b.config(1, TRANS, R2, (1, 3), left=(2,))  # 3 was never in R1
    b.config(1, REG, R2, (1, 2), joined=(2,))  # and is not in R2
    msgs = [v.message for v in check_run(b.run(), [RingInvariants([ck.CONFIG_AGREEMENT])])]
    assert any("not a subset of previous regular" in m for m in msgs)
    assert any("not a subset of the next regular" in m for m in msgs)


def test_virtual_synchrony_flags_different_transitional_deliveries() -> None:
    got = flagged(Baseline().build(skip={"n2_m3"}))
    assert got == {ck.VIRTUAL_SYNCHRONY}


def test_delivered_where_sent_flags_a_message_in_the_wrong_configuration() -> None:
    base = Baseline()

    def wrong(b: TraceBuilder) -> None:
        b.at(3.2)
        x = b.submit(2)
        b.deliver(1, 2, x, R1, 9)       # ring R1 message delivered in R2
        b.deliver(2, 2, x, R1, 9)
    got = check_run(base.build(extra_r2=[wrong]), [RingInvariants([ck.DELIVERED_WHERE_SENT])])
    assert got and all(v.invariant == ck.DELIVERED_WHERE_SENT for v in got)


def test_self_delivery_flags_a_message_the_sender_never_got() -> None:
    def lost(b: TraceBuilder) -> None:
        b.at(3.5)
        b.submit(2)                     # after the liveness submit_end: only item 8 applies
    assert flagged(Baseline().build(extra_r2=[lost])) == {ck.SELF_DELIVERY}


def test_self_delivery_forgives_a_crashed_sender() -> None:
    base = Baseline()
    run = base.build(extra_r2=[lambda b: (b.at(3.5), b.submit(2), b.crash(2))])
    assert ck.SELF_DELIVERY not in flagged(run)


def test_safe_delivery_flags_a_member_that_never_delivers() -> None:
    # n3 survives, goes its own way (R3) and never delivers the SAFE m2 of R1
    run = Baseline().build(skip={"n3_m2"}, n3_crashes=False, windows=False)
    assert flagged(run) == {ck.SAFE_DELIVERY}


def test_safe_delivery_forgives_a_member_that_crashed() -> None:
    run = Baseline().build(skip={"n3_m2"}, n3_crashes=True, windows=False)
    assert ck.SAFE_DELIVERY not in flagged(run)


def test_liveness_flags_a_component_that_does_not_merge() -> None:
    base = Baseline()
    run = base.build()
    run.windows = (LivenessWindow(1.5, 3.0, 3.0, 4.0, ((1, 2, 3),)),)   # n3 should be there
    assert ck.LIVENESS in flagged(run)


def test_liveness_flags_a_message_delivered_too_late() -> None:
    base = Baseline()

    def late(b: TraceBuilder) -> None:
        b.at(2.6)
        x = b.submit(1)
        b.deliver(1, 1, x, R2, 2)
        b.at(4.5)                        # window ends at 4.0
        b.deliver(2, 1, x, R2, 2)
    assert flagged(base.build(extra_r2=[late])) == {ck.LIVENESS}


def test_boundedness_flags_engine_exceptions_and_limit_breaches() -> None:
    def bad(b: TraceBuilder) -> None:
        b.problem(1, tr.ERROR, "handle_packet raised ValueError: boom")
        b.problem(2, tr.BOUND, "token rtr_count 99 > rtr_max 64")
    got = check_run(Baseline().build(extra_r2=[bad]), [RingInvariants()])
    assert [v.invariant for v in got] == [ck.BOUNDEDNESS, ck.BOUNDEDNESS]


def test_extra_invariant_sets_plug_in() -> None:
    class NoSafe:
        name = "no_safe"

        def check(self, run: RunRecord) -> list[Violation]:
            return [Violation("no_safe", "SAFE used", r.index, r.node) for r in run.records
                    if r.kind == tr.SUBMIT and r.data.service is Service.SAFE]
    got = check_run(Baseline().build(), [RingInvariants(), NoSafe()])
    assert [v.invariant for v in got] == ["no_safe"]


def test_violation_excerpt_points_at_the_record() -> None:
    base = Baseline()
    run = base.build(extra_r2=[lambda b: b.deliver(2, 1, base.m4, R2, 1)])
    v = check_run(run, [RingInvariants()])[0]
    lines = tr.excerpt(run.records, v.record, node=v.node)
    marked = [l for l in lines if l.startswith("> ")]
    assert len(marked) == 1 and "deliver" in marked[0] and "n2/1" in marked[0]


def test_fifo_is_per_lane_a_control_message_may_overtake_normal_ones() -> None:
    from robot_gcs.core.types import Lane

    def overtaken(b: TraceBuilder) -> None:
        b.at(3.1)
        x = b.submit(1, lane=Lane.NORMAL)
        y = b.submit(1, lane=Lane.CONTROL)
        z = b.submit(1, lane=Lane.NORMAL)
        for n in (1, 2):
            b.deliver(n, 1, y, R2, 2)       # CONTROL first: fine
            b.deliver(n, 1, z, R2, 3)       # but z before x within NORMAL: not fine
            b.deliver(n, 1, x, R2, 4)
    got = [v.message for v in check_run(Baseline().build(extra_r2=[overtaken]),
                                         [RingInvariants([ck.FIFO])])]
    # n1 submitted #0..#2 in the baseline: x, y, z are #3 (NORMAL), #4 (CONTROL), #5 (NORMAL)
    assert len(got) == 2 and all("#3" in m and "#5" in m and "#4" not in m for m in got)


def test_integrity_flags_a_safe_message_delivered_as_agreed() -> None:
    base = Baseline()

    def downgraded(b: TraceBuilder) -> None:
        b.at(3.1)
        x = b.submit(2, Service.SAFE)
        b.deliver(1, 2, x, R2, 2, service=Service.SAFE)
        b.deliver(2, 2, x, R2, 2, service=Service.AGREED)
    got = check_run(base.build(extra_r2=[downgraded]), [RingInvariants([ck.INTEGRITY])])
    assert len(got) == 1 and "submitted as SAFE delivered as AGREED" in got[0].message
