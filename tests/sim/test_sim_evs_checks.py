"""The checks issue 12 added: strict safe delivery in T, virtual synchrony across routes,
progress under steady loss. Hand-written traces, each with the one fault it must flag."""

from __future__ import annotations

from robot_gcs.core.types import Service
from robot_gcs.sim import ring_invariants as ck
from robot_gcs.sim import trace as tr
from robot_gcs.sim.checker import LivenessWindow, RunRecord, check_run
from robot_gcs.sim.progress_invariants import PROGRESS_LOSS, progress_bound
from robot_gcs.sim.ring_invariants import RingInvariants

from .synthetic import R1, R2, R3, REG, TRANS, TraceBuilder


def flagged(run: RunRecord) -> set[str]:
    return {v.invariant for v in check_run(run, [RingInvariants()])}


def dropout(*, n3_delivers: bool, n3_crashes: bool = False,
            service: Service = Service.SAFE) -> RunRecord:
    """n1, n2, n3 in R1; all three start the recovery of R2, so T = {1, 2, 3}; n1 and n2
    install R2 and deliver m in T; n3 drops out and installs R3 alone (T = {3})."""
    b = TraceBuilder()
    for n in (1, 2, 3):
        b.start(n)
        b.persist(n, 8)
    for n in (1, 2, 3):
        b.config(n, REG, R1, (1, 2, 3))
    m = b.submit(1, service)
    for n in (1, 2):
        b.config(n, TRANS, R2, (1, 2, 3))
        b.deliver(n, 1, m, R1, 1, trans=True, service=service)
        b.config(n, REG, R2, (1, 2, 3))
    if n3_crashes:
        b.crash(3)
    else:
        b.config(3, TRANS, R3, (3,), left=(1, 2))
        if n3_delivers:
            b.deliver(3, 1, m, R1, 1, trans=True, service=service)
        b.config(3, REG, R3, (3,))
    return b.run()


def test_a_member_of_t_that_goes_elsewhere_must_deliver_what_t_delivered() -> None:
    assert flagged(dropout(n3_delivers=False)) == {ck.SAFE_DELIVERY, ck.VIRTUAL_SYNCHRONY}
    assert flagged(dropout(n3_delivers=True)) == set()
    assert flagged(dropout(n3_delivers=False, n3_crashes=True)) == set()


def test_virtual_synchrony_across_routes_covers_agreed_messages_too() -> None:
    got = check_run(dropout(n3_delivers=False, service=Service.AGREED), [RingInvariants()])
    assert {v.invariant for v in got} == {ck.VIRTUAL_SYNCHRONY}
    assert "n3 is in the transitional configuration [1, 2, 3]" in got[0].message


def lossy_tail(*, late: float = 0.0, ftr: bool = False, loss: float = 0.01) -> RunRecord:
    """n1 and n2 share R1 from t=0; a lossy window runs from 2 to 6 (submissions to 4)."""
    b = TraceBuilder()
    for n in (1, 2):
        b.start(n)
        b.persist(n, 4)
        b.config(n, REG, R1, (1, 2))
    b.at(2.5)
    m = b.submit(1)
    b.deliver(1, 1, m, R1, 1)
    b.at(2.5 + late)
    b.deliver(2, 1, m, R1, 1)
    if ftr:
        b.at(3.0)
        b.problem(2, tr.STATE, "OPERATIONAL->GATHER (fail_to_receive from 1)")
    b.at(6.5)
    return b.run((LivenessWindow(2.0, 4.0, 4.0, 6.0, ((1, 2),), loss),))


def test_progress_flags_a_message_late_under_steady_loss() -> None:
    bound = progress_bound(TraceBuilder().run().params)
    assert flagged(lossy_tail(late=bound / 2)) == set()
    got = check_run(lossy_tail(late=bound * 1.5), [RingInvariants()])
    assert [v.invariant for v in got] == [ck.PROGRESS]
    assert "reached n2 only at" in got[0].message


def test_progress_flags_fail_to_receive_below_the_stated_loss_rate() -> None:
    assert flagged(lossy_tail(ftr=True)) == {ck.PROGRESS}
    assert flagged(lossy_tail(ftr=True, loss=PROGRESS_LOSS * 2)) == set()
    assert flagged(lossy_tail(ftr=True, loss=0.0)) == set()    # not a lossy window


def test_progress_states_no_bound_above_the_stated_loss_rate() -> None:
    bound = progress_bound(TraceBuilder().run().params)
    assert flagged(lossy_tail(late=bound * 1.5, loss=PROGRESS_LOSS * 2)) == set()

