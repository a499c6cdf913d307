"""A singleton ring delivers (AGREED and SAFE) and frees its buffer in one token visit,
without sending the token anywhere: what the embedded own-message path relies on."""

from __future__ import annotations

from robot_gcs.core.actions import Deliver, Send, SetTimer
from robot_gcs.core.engine import Engine
from robot_gcs.core.params import EngineConfig
from robot_gcs.core.types import MemberState, Service, TimerId


def _operational_singleton() -> tuple[Engine, float]:
    e = Engine(EngineConfig(peers=(1,), cluster_id=9), 1, 1, None, 1)
    timers: dict[TimerId, float] = {}
    now = 0.0
    for a in e.start(now):
        if isinstance(a, SetTimer):
            timers[a.timer_id] = a.deadline
    while e.state is not MemberState.OPERATIONAL:
        tid, now = min(timers.items(), key=lambda kv: (kv[1], kv[0].value))
        del timers[tid]
        for a in e.handle_timer(now, tid):
            if isinstance(a, SetTimer):
                timers[a.timer_id] = a.deadline
        assert now < 10.0, "singleton never became operational"
    return e, now


def _visit_once(e: Engine, now: float, payload: bytes, service: Service) -> list[object]:
    acts = e.submit(now, payload, service)
    holds = [a for a in acts if isinstance(a, SetTimer) and a.timer_id is TimerId.TOKEN_HOLD]
    assert holds and holds[-1].deadline == now, "local submit must release the held token now"
    return list(e.handle_timer(now, TimerId.TOKEN_HOLD))


def test_singleton_delivers_safe_in_one_visit_and_holds_the_token_afterwards() -> None:
    e, now = _operational_singleton()
    for service in (Service.AGREED, Service.SAFE, Service.SAFE):
        now += 0.001
        acts = _visit_once(e, now, b"m-" + bytes([service]), service)
        got = [a for a in acts if isinstance(a, Deliver)]
        assert [(d.payload, d.service) for d in got] == [(b"m-" + bytes([service]), service)]
        assert not any(isinstance(a, Send) and a.dest > 0 for a in acts), \
            "a singleton passes the token to itself, not through the network"
        hold = [a for a in acts if isinstance(a, SetTimer) and a.timer_id is TimerId.TOKEN_HOLD]
        assert hold and hold[-1].deadline > now, "idle again: no second visit is scheduled"
        assert e.statistics().buffer_len == 0, "delivered packets are freed in the same visit"


def test_singleton_keeps_fifo_across_a_burst_of_mixed_services() -> None:
    e, now = _operational_singleton()
    now += 0.001
    sent = []
    for i in range(40):
        svc = Service.SAFE if i % 3 == 0 else Service.AGREED
        sent.append(f"{i}".encode())
        e.submit(now, sent[-1], svc)
    got: list[bytes] = []
    for _ in range(20):
        got += [a.payload for a in e.handle_timer(now, TimerId.TOKEN_HOLD)
                if isinstance(a, Deliver)]
        if len(got) == len(sent):
            break
    assert got == sent
