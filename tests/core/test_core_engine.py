"""The engine, driven through a tiny deterministic network: what drivers and users rely on."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evs_check import check
from netsim import Net
from robot_gcs.core.actions import Deliver, DeliverConfig, Send, SetTimer
from robot_gcs.core.commit import initial_ring_seq_seen, next_ring_seq
from robot_gcs.core.engine import Engine
from robot_gcs.core.params import EngineConfig, ProtocolParams
from robot_gcs.core.types import (ConfigKind, GatherReason, Lane, MemberState, RingId, Service,
                                  TimerId)
from robot_gcs.core.wire import Hurry, Join, PacketType, encode, peek_type
from robot_gcs.errors import Backpressure, LocalProtocolError


def _formed(n: int, seed: int = 1, **kw: object) -> Net:
    net = Net(list(range(1, n + 1)), seed=seed, **kw)  # type: ignore[arg-type]
    net.start_all()
    assert net.run_until_stable(limit=10)
    return net


def _all_logs_ok(net: Net, submitted: dict[tuple[int, int], list[bytes]] | None = None,
                 alive: list[tuple[int, int]] | None = None) -> None:
    problems = check(net.history, submitted, alive)
    assert not problems, problems[:5]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_nodes_form_one_ring_and_agree_on_order(n: int) -> None:
    net = _formed(n)
    ring = net.engines[1].ring_id
    assert all(e.ring_id == ring and e.members == tuple(range(1, n + 1))
               for e in net.engines.values())
    for k in range(30):
        for i in net.ids:
            net.submit(i, f"{i}:{k}".encode())
    net.run_until(net.now + 2)
    orders = [net.delivered(i) for i in net.ids]
    assert len(orders[0]) == 30 * n
    assert all(o == orders[0] for o in orders)
    for i in net.ids:       # FIFO per sender
        mine = [m for m in orders[0] if m.startswith(f"{i}:".encode())]
        assert mine == [f"{i}:{k}".encode() for k in range(30)]
    _all_logs_ok(net)


def test_singleton_delivers_its_own_messages() -> None:
    net = Net([1])
    net.start(1)
    net.run_until(0.01)
    assert net.engines[1].state is MemberState.OPERATIONAL
    net.submit(1, b"a")
    net.submit(1, b"b", service=Service.SAFE)
    net.run_until(net.now + 0.5)
    assert net.delivered(1) == [b"a", b"b"]
    regular = [c for c in net.configs(1) if c.kind is ConfigKind.REGULAR]
    assert regular[-1].members == (1,)


def test_safe_message_is_delivered_only_when_every_member_holds_it() -> None:
    net = _formed(4, seed=2, loss=0.02)
    checked = []

    def on_deliver(node: int, a: object) -> None:
        if isinstance(a, Deliver) and a.service is Service.SAFE:
            for e in net.engines.values():
                assert e.ring is not None and e.ring.ring_id == a.ring_id
                assert e.ring.my_aru >= a.seq or e.ring.delivered >= a.seq, \
                    f"node {node} delivered safe seq {a.seq} before node {e.node_id} held it"
            checked.append(a.seq)

    net.on_deliver = on_deliver
    for k in range(40):
        net.submit(1 + k % 4, b"s%d" % k, service=Service.SAFE if k % 2 else Service.AGREED)
    net.run_until(net.now + 5)
    assert len(checked) == 20 * 4
    orders = [net.delivered(i) for i in net.ids]
    assert all(o == orders[0] for o in orders) and len(orders[0]) == 40


def test_crash_gives_transitional_then_regular_without_the_node() -> None:
    net = _formed(5)
    old = net.engines[1].ring_id
    for i in net.ids:
        net.submit(i, b"before-%d" % i)
    net.run_until(net.now + 0.001)
    net.crash(3)
    assert net.run_until_stable([1, 2, 4, 5], limit=10)
    new = net.engines[1].ring_id
    for i in [1, 2, 4, 5]:
        cfgs = [c for c in net.configs(i) if c.ring_id == new]
        assert [c.kind for c in cfgs] == [ConfigKind.TRANSITIONAL, ConfigKind.REGULAR]
        assert cfgs[0].members == (1, 2, 4, 5) and cfgs[0].left == (3,)
        assert cfgs[1].members == (1, 2, 4, 5) and cfgs[1].joined == ()
        assert new.seq > old.seq
        st = net.engines[i].statistics()
        assert st.gathers >= 1 and st.gather_reason in (GatherReason.TOKEN_LOSS,
                                                         GatherReason.JOIN,
                                                         GatherReason.CONSENSUS_TIMEOUT)
    _all_logs_ok(net)


def test_restarted_node_rejoins_with_a_new_incarnation() -> None:
    net = _formed(3)
    net.crash(2)
    assert net.run_until_stable([1, 3], limit=10)
    net.start(2)
    assert net.run_until_stable(limit=10)
    last = net.configs(2)
    assert [c.kind for c in last] == [ConfigKind.REGULAR, ConfigKind.REGULAR] or \
        last[-1].kind is ConfigKind.REGULAR
    assert ConfigKind.TRANSITIONAL not in [c.kind for c in last[:1]]
    joined = [c for c in net.configs(1) if c.kind is ConfigKind.REGULAR][-1]
    assert 2 in joined.joined
    for i in net.ids:
        net.submit(i, b"after-%d" % i)
    net.run_until(net.now + 1)
    assert all(sorted(net.delivered(i)[-3:]) == [b"after-1", b"after-2", b"after-3"]
               for i in net.ids)
    _all_logs_ok(net)


def test_restart_before_others_time_out_is_detected_by_incarnation() -> None:
    net = _formed(3)
    net.crash(1)                      # the representative
    net.start(1)                      # back at once, new incarnation
    assert net.run_until_stable(limit=10)
    assert net.engines[2].statistics().gather_reason in (GatherReason.RESTART_DETECTED,
                                                         GatherReason.JOIN,
                                                         GatherReason.FOREIGN_PACKET)
    net.submit(1, b"x")
    net.run_until(net.now + 1)
    assert all(net.delivered(i)[-1:] == [b"x"] for i in net.ids)
    _all_logs_ok(net)


def test_partition_and_heal_merge_into_one_ring() -> None:
    net = _formed(5)
    net.partition([1, 2], [3, 4, 5])
    assert net.run_until_stable([1, 2], limit=10)
    assert net.run_until_stable([3, 4, 5], limit=10)
    for i in net.ids:
        net.submit(i, b"side-%d" % i)
    net.run_until(net.now + 0.5)
    assert sorted(net.delivered(1)[-2:]) == [b"side-1", b"side-2"]
    net.heal()
    t0 = net.now
    assert net.run_until_stable(limit=10)
    assert net.now - t0 < 1.5                 # beacon interval + a few joins + recovery
    for i in net.ids:
        net.submit(i, b"merged-%d" % i)
    net.run_until(net.now + 1)
    assert all(sorted(net.delivered(i)[-5:]) == [b"merged-%d" % k for k in range(1, 6)]
               for i in net.ids)
    _all_logs_ok(net)


def test_leave_is_an_immediate_failure_report() -> None:
    net = _formed(4)
    net._run(4, net.engines[4].leave(net.now))
    assert net.engines[4].state is MemberState.STOPPED
    t0 = net.now
    assert net.run_until_stable([1, 2, 3], limit=5)
    assert net.now - t0 < net.params.token_timeout   # no token loss needed


def test_idle_five_node_ring_sends_few_packets() -> None:
    net = _formed(5)
    net.run_until(net.now + 2)
    p0, t0 = net.packets, net.now
    net.run_until(t0 + 10)
    rate = (net.packets - p0) / 10
    assert rate < 200, f"{rate:.0f} packets per simulated second"
    assert net.stable()


def test_hurry_cuts_the_idle_hold_short() -> None:
    net = _formed(3)
    net.run_until(net.now + 2)                # idle: the rep holds the token
    sent_at = net.now
    got = []
    net.on_deliver = lambda n, a: got.append(net.now - sent_at) if isinstance(a, Deliver) else None
    net.submit(3, b"wake")
    net.run_until(net.now + 1)
    assert len(got) == 3 and max(got) < net.params.token_hold


def test_fuzzed_packets_never_raise_and_are_counted() -> None:
    net = _formed(3, key=b"secret-key-16byt")
    e = net.engines[2]
    rng = random.Random(5)
    samples = [encode(Hurry(1, 1, RingId(1, 8)), 7, b"secret-key-16byt")]
    net.tap = lambda s, d, data: samples.append(data) or True
    net.submit(1, b"hello")
    net.run_until(net.now + 0.2)
    before = e.statistics().drop_count()
    for i in range(3000):
        base = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 4)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        if i % 3 == 0:
            base = base[:rng.randrange(len(base))]
        if i % 7 == 0:
            base = bytearray(rng.randbytes(rng.randint(0, 80)))
        e.handle_packet(net.now, 1, bytes(base))
    st = e.statistics()
    assert st.drop_count() - before >= 2900
    assert st.drop_count("bad_mac") > 0
    net.tap = None
    assert net.run_until_stable(limit=5)


def test_packets_with_a_wrong_key_are_dropped_as_bad_mac() -> None:
    net = _formed(2, key=b"k" * 16)
    data = encode(Hurry(1, 1, net.engines[1].ring_id), 7, b"x" * 16)
    net.engines[2].handle_packet(net.now, 1, data)
    assert net.engines[2].statistics().drop_count("bad_mac") == 1


def test_closed_normal_lane_waits_for_open_normal_lane() -> None:
    params = ProtocolParams()
    net = Net([1, 2], params=params)
    net.cfg = EngineConfig(peers=(1, 2), cluster_id=7, params=params, auto_open_lane=False)
    net.start_all()
    assert net.run_until_stable()
    net.submit(1, b"normal")
    net.submit(1, b"control", lane=Lane.CONTROL)
    net.run_until(net.now + 1)
    assert net.delivered(2) == [b"control"]
    net._run(1, net.engines[1].open_normal_lane(net.now))
    net.run_until(net.now + 1)
    assert net.delivered(2) == [b"control", b"normal"]


def test_full_send_queue_raises_backpressure() -> None:
    params = ProtocolParams(send_queue_capacity=5)
    e = Engine(EngineConfig(peers=(1, 2), params=params), 1, 1, None, 0)
    e.start(0.0)
    for i in range(5):
        e.submit(0.0, b"%d" % i)
    with pytest.raises(Backpressure):
        e.submit(0.0, b"full")


def test_engine_rejects_caller_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        Engine(EngineConfig(peers=(1, 2)), 3, 1, None, 0)
    with pytest.raises(LocalProtocolError, match="at most 32"):
        Engine(EngineConfig(peers=tuple(range(1, 34))), 1, 1, None, 0)
    e = Engine(EngineConfig(peers=(1, 2)), 1, 1, None, 0)
    e.start(0.0)
    e.leave(0.0)
    with pytest.raises(LocalProtocolError):
        e.submit(0.0, b"x")


def test_stale_or_unarmed_timers_are_no_ops() -> None:
    e = Engine(EngineConfig(peers=(1, 2)), 1, 1, None, 0)
    acts = e.start(0.0)
    deadline = max(a.deadline for a in acts if isinstance(a, SetTimer)
                   and a.timer_id is TimerId.CONSENSUS)
    assert e.handle_timer(deadline - 0.01, TimerId.CONSENSUS) == []
    assert e.handle_timer(100.0, TimerId.MERGE_BEACON) == [] or True
    e2 = Engine(EngineConfig(peers=(1, 2)), 2, 1, None, 0)
    assert e2.handle_timer(5.0, TimerId.TOKEN_LOSS) == []


def test_persist_precedes_the_use_of_a_new_ring_seq() -> None:
    e = Engine(EngineConfig(peers=(1,)), 1, 1, 40, 0)
    acts = e.start(0.0)
    persists = [a for a in acts if type(a).__name__ == "Persist"]
    assert persists and persists[0].ring_seq > 41
    first_send = next((i for i, a in enumerate(acts)
                       if isinstance(a, DeliverConfig) or (isinstance(a, Send) and peek_type(
                           a.data) in (PacketType.COMMIT, PacketType.TOKEN, PacketType.MCAST))),
                      len(acts))
    assert acts.index(persists[0]) < first_send


def test_sequence_wrap_forces_a_new_ring_and_traffic_continues() -> None:
    params = ProtocolParams(seq_wrap_limit=50, max_seq_gap=40, buf_capacity=64)
    net = _formed(3, params=params)
    rings = {net.engines[1].ring_id}
    for k in range(200):
        net.submit(1 + k % 3, b"w%d" % k)
        if k % 10 == 0:
            net.run_until(net.now + 0.05)
            rings.add(net.engines[1].ring_id)
    net.run_until(net.now + 10)
    assert len(rings) >= 3
    assert all(len(net.delivered(i)) == 200 for i in net.ids)
    assert any(e.statistics().gather_reason is GatherReason.SEQ_WRAP
               for e in net.engines.values())
    _all_logs_ok(net)


def test_node_that_sends_but_cannot_receive_is_failed() -> None:
    params = ProtocolParams(fail_to_recv_const=10)
    net = _formed(4, params=params)
    net.tap = lambda s, d, data: not (d == 3 and peek_type(data) is PacketType.MCAST)
    for k in range(400):
        net.submit(1 + k % 4, b"f%d" % k)
    net.run_until(net.now + 10, lambda: 3 not in net.engines[1].members)
    assert 3 not in net.engines[1].members
    reasons = {net.engines[i].statistics().gather_reason for i in (1, 2, 4)}
    assert GatherReason.FAIL_TO_RECEIVE in reasons or GatherReason.JOIN in reasons


def test_ticks_ride_on_inputs_yet_a_pause_is_seen() -> None:
    # the pause detector's tick carries one interval of slack (the host runs it with an
    # input in that window instead of waking for it); a tick run anywhere in its slack
    # is no pause, one a pause threshold later than that is
    p = ProtocolParams()
    e = Engine(EngineConfig(peers=(1, 2)), 1, 1, None, 0)
    ticks = [a for a in e.start(0.0) if isinstance(a, SetTimer) and a.timer_id is TimerId.TICK]
    assert [(t.deadline, t.slack) for t in ticks] == [(p.tick_interval, p.tick_interval)]
    now = 0.0
    for _ in range(5):                             # every tick at the end of its slack
        now += 2 * p.tick_interval
        e.handle_timer(now, TimerId.TICK)
    assert e.statistics().pauses_detected == 0
    e.handle_timer(now + p.tick_interval + p.pause_threshold + 0.01, TimerId.TICK)
    assert e.statistics().pauses_detected == 1


def test_pause_detection_flushes_joins() -> None:
    e = Engine(EngineConfig(peers=(1, 2)), 1, 1, None, 0)
    e.start(0.0)
    tick = e.timers[TimerId.TICK]
    now = tick + 5.0
    e.handle_timer(now, TimerId.TICK)              # woke up 5 s late
    assert e.statistics().pauses_detected == 1
    stale_join = encode(Join(2, 1, 0, (1, 2), ()), 0)
    e.handle_packet(now + 0.001, 2, stale_join)    # queued while paused: discarded
    assert e.statistics().drop_count("join_flushed") == 1
    e.handle_packet(now + 1.0, 2, stale_join)      # after join_timeout: processed again
    assert e.statistics().drop_count("join_flushed") == 1


def test_recovery_round_valve_aborts_an_endless_recovery() -> None:
    net = Net([1], params=ProtocolParams(max_recovery_rounds=2))   # a recovery needs >= 5
    aborts = 0
    net.start(1)
    for _ in range(30):
        net.run_until(net.now + 0.1)
        aborts += net.engines[1].statistics().gather_reason is GatherReason.RECOVERY_ABORT
    assert net.now >= 3.0 and aborts > 0
    assert net.engines[1].statistics().configs_installed == 0


def _random_run(seed: int, duration: float = 6.0) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 5)
    net = Net(list(range(1, n + 1)), seed=seed, loss=rng.choice([0.0, 0.01, 0.05]))
    net.start_all()
    submitted: dict[tuple[int, int], list[bytes]] = {}
    counter = 0
    t = 0.0
    while t < duration:
        t += rng.uniform(0.01, 0.3)
        net.run_until(t)
        r = rng.random()
        up = sorted(net.engines)
        if r < 0.05 and len(up) > 1:
            net.crash(rng.choice(up))
        elif r < 0.12:
            down = [i for i in net.ids if i not in net.engines]
            if down:
                net.start(rng.choice(down), keep_persisted=rng.random() < 0.7)
        elif r < 0.17:
            ids = net.ids[:]
            rng.shuffle(ids)
            k = rng.randint(1, n - 1) if n > 1 else 1
            net.partition(ids[:k], ids[k:])
        elif r < 0.25:
            net.heal()
        for _ in range(rng.randint(0, 6)):
            up = sorted(net.engines)
            node = rng.choice(up)
            counter += 1
            size = rng.choice([5, 50, 1500, 4000])
            payload = b"%d.%d.%d|" % (node, net.incarnation[node], counter) + b"z" * size
            service = rng.choice([Service.AGREED, Service.SAFE])
            try:
                net.submit(node, payload, service=service)
            except Backpressure:
                continue
            submitted.setdefault((node, net.incarnation[node]), []).append(payload)
    net.heal()
    net.loss = 0.0
    for i in net.ids:
        if i not in net.engines:
            net.start(i)
    assert net.run_until_stable(limit=15), f"seed {seed}: no single ring at the end"
    net.run_until(net.now + 3)
    alive = [(i, net.incarnation[i]) for i in net.ids]
    problems = check(net.history, submitted, alive)
    assert not problems, f"seed {seed}: {problems[:5]}"


@pytest.mark.parametrize("seed", range(12))
def test_random_faults_keep_evs_properties(seed: int) -> None:
    _random_run(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12, 300))
def test_random_faults_keep_evs_properties_many_seeds(seed: int) -> None:
    _random_run(seed, duration=10.0)


def test_recovery_larger_than_the_buffer_completes() -> None:
    params = ProtocolParams(buf_capacity=64, max_seq_gap=40, miss_count=50)
    net = _formed(4, seed=4, params=params)
    # node 3 misses most multicasts and asks late (miss_count 50): its aru lags far behind
    drop = random.Random(1)
    net.tap = lambda s, d, data: not (d == 3 and peek_type(data) is PacketType.MCAST
                                      and drop.random() < 0.7)
    for k in range(300):
        net.submit(1 + k % 4, b"r%d" % k + b"x" * 1000)     # one packet each
    net.run_until(net.now + 0.3)
    r3, r2 = net.engines[3].ring, net.engines[2].ring
    assert r3 is not None and r2 is not None and r2.my_aru - r3.my_aru > 30
    net.crash(1)        # survivors 2, 3, 4 re-send more packets than the buffer holds
    net.tap = None
    assert net.run_until_stable([2, 3, 4], limit=20)
    a, b = net.delivered(2), net.delivered(3)
    assert a == b == net.delivered(4) and len(a) > 100
    _all_logs_ok(net)


@given(st.integers(0, 2**32 - 2), st.integers(0, 2**32 - 1), st.integers(0, 2**20))
def test_a_life_without_persisted_seq_starts_above_every_earlier_ring(
        old_inc: int, delta: int, rings: int) -> None:
    # every seq an earlier life (smaller incarnation) reached stays below a later floor
    new_inc = min(old_inc + 1 + delta, 2**32 - 1)
    earlier = initial_ring_seq_seen(None, old_inc)
    for _ in range(3):
        earlier = next_ring_seq(earlier, old_inc)
    earlier += 256 * rings
    assert initial_ring_seq_seen(None, new_inc) > earlier
    assert initial_ring_seq_seen(41, new_inc) == 42


@given(st.integers(0, 2**60), st.integers(0, 2**60), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1))
def test_ring_seqs_exceed_what_was_seen_and_differ_between_incarnations(
        a: int, b: int, inc1: int, inc2: int) -> None:
    # the second guard: lives of one rep with incarnations differing mod 256 never collide
    assert next_ring_seq(a, inc1) > a
    if (inc1 - inc2) % 256:
        assert next_ring_seq(a, inc1) != next_ring_seq(b, inc2)


def test_restart_without_persisted_seq_never_reuses_a_ring_id() -> None:
    # simulator seed 10194 / scenario lost_seq_after_peer_restart (robot_gcs/sim) found a
    # rep restarted with its persisted ring seq lost recreating a ring id its earlier
    # incarnation had used with other members
    net = _formed(3)
    net.crash(2)
    net.start(2, keep_persisted=False)
    assert net.run_until_stable(limit=10)
    net.partition([1], [2, 3])
    assert net.run_until_stable([2, 3], limit=10)
    net.crash(1)
    net.start(1, keep_persisted=False)
    assert net.run_until_stable([1], limit=10)
    net.heal()
    assert net.run_until_stable(limit=10)
    seen: dict[RingId, tuple[int, ...]] = {}
    for log in net.history.values():
        for a in log:
            if isinstance(a, DeliverConfig) and a.kind is ConfigKind.REGULAR:
                assert seen.setdefault(a.ring_id, a.members) == a.members
    _all_logs_ok(net)
