"""Quiet tokens under robot-shaped periodic load, in virtual time (core/ring.py ``quiet``,
core/token_flow.py ``_keep_quiet``): machine-independent counts of what the token costs."""

from __future__ import annotations

from robot_gcs.core.actions import Deliver
from robot_gcs.core.params import ProtocolParams
from robot_gcs.core.wire import encode

from netsim import Net
from periodic_load import run_periodic


def _quiet_ring(n: int = 3, hop: float = 0.0001) -> Net:
    net = Net(list(range(1, n + 1)), latency=hop, seed=3)
    net.start_all()
    assert net.run_until_stable(limit=10)
    net.run_until(net.now + 1.0)               # idle: the rep keeps the token
    return net


def test_periodic_bursts_cost_few_rotations() -> None:
    # 3 nodes, each a burst of 10 messages every 10 ms (10 topics at 100 Hz), 100 us hops.
    # The token is kept where a burst's rotation ends (RingState.holder), so a burst costs
    # at most one rotation, ~200/s; kept only at the rep, a burst of the third node cost
    # two (~400/s, ~2000 packets/s), and with one fully quiet rotation first ~600/s.
    for seed in (1, 2, 3):
        f = run_periodic(nodes=3, burst=10, period=0.010, seconds=2.0, seed=seed)
        assert f.delivered == f.expected, f.line()
        assert f.rotations_per_s <= 220, f.line()
        assert f.packets_per_s <= 1400, f.line()
        assert f.p99_us <= 300, f.line()


def test_a_five_node_ring_with_sparse_messages_rotates_less() -> None:
    # one message per node every 10 ms: 736 rotations and 6058 packets per second with
    # one fully quiet rotation before a hold (3 seeds), ~640 and ~5520 kept at the rep
    # only, ~500 and ~4900 kept by the holder
    rot = pkts = 0.0
    for seed in (1, 2, 3):
        f = run_periodic(nodes=5, burst=1, period=0.010, seconds=2.0, seed=seed)
        assert f.delivered == f.expected, f.line()
        rot += f.rotations_per_s / 3
        pkts += f.packets_per_s / 3
    assert rot <= 560 and pkts <= 5200, (rot, pkts)


def test_the_reps_new_work_rides_the_kept_token() -> None:
    net = _quiet_ring()
    rep = net.engines[1]
    assert rep.held is not None
    got: list[float] = []
    t0 = net.now
    net.on_deliver = lambda node, a: got.append(net.now - t0) \
        if isinstance(a, Deliver) and node != 1 else None
    net.submit(1, b"from the rep")
    net.run_until(net.now + 0.1)
    # sent at once on the kept token: one hop to each member, no rotation first
    assert len(got) == 2 and max(got) <= 1.5 * net.latency


def test_the_token_stays_where_the_newest_packets_rotation_ends() -> None:
    # node 3 (beyond the rep's successor) sends one message: the token comes to it and
    # goes round once more to node 2, the predecessor of the sender, which keeps it --
    # two token hops after the send, not the four back to the rep -- and a later message
    # of node 1 HURRYs node 2, not the rep
    net = _quiet_ring()
    assert net.engines[1].held is not None           # no packet yet: the rep holds
    tokens: list[tuple[int, int]] = []
    hurries: list[tuple[int, int]] = []

    def tap(src: int, dst: int, data: bytes) -> bool:
        (tokens if _kind(data) == 2 else hurries if _kind(data) == 6 else []).append((src, dst))
        return True
    net.tap = tap
    net.submit(3, b"from beyond the successor")
    net.run_until(net.now + 0.05)
    assert [e.held is not None for e in net.engines.values()] == [False, True, False]
    assert net.engines[2].ring.holder() == net.engines[1].ring.holder() == 2
    assert tokens == [(1, 2), (2, 3), (3, 1), (1, 2)], tokens
    tokens.clear()
    hurries.clear()
    net.submit(1, b"from the rep")
    net.run_until(net.now + 0.05)
    assert hurries == [(1, 2)], hurries
    assert net.delivered(2)[-1] == net.delivered(3)[-1] == b"from the rep"
    assert net.engines[3].held is not None           # pred(1) keeps it now


def test_a_successor_with_more_than_one_visit_of_work_is_not_stalled() -> None:
    # 40 packets of work at the rep's successor: it sends max_messages per visit and its
    # packets alone make each rotation look quiet to the rep, so it says it has more
    # with a HURRY; everything arrives in a few rotations, far below token_hold.
    params = ProtocolParams()
    net = _quiet_ring()
    got: list[float] = []
    t0 = net.now
    net.on_deliver = lambda node, a: got.append(net.now - t0) \
        if isinstance(a, Deliver) and node == 3 else None
    for i in range(40):
        net.submit(2, bytes([i]) * 1000)
    net.run_until(net.now + 0.5)
    assert len(got) == 40
    assert max(got) < params.token_hold / 4, max(got)


def test_a_retransmitted_copy_of_the_kept_token_is_ignored() -> None:
    net = _quiet_ring()
    rep = net.engines[1]
    held = rep.held
    assert held is not None
    before = rep.statistics().token_rotations

    data = encode(held, net.cfg.cluster_id, net.cfg.key)
    net._run(1, rep.handle_packet(net.now, 3, data))
    assert rep.held is held and rep.statistics().token_rotations == before


def _kind(data: bytes) -> int:
    return data[3]              # the header's type byte (core/wire.py)


def test_an_idle_ring_rotates_once_per_hold_without_token_retransmissions() -> None:
    # the rep keeps the quiet token token_hold (130 ms, above the 83 ms retransmit
    # interval): its predecessor, handing over a token that looks quiet, delays its
    # retransmission by the hold, so an idle ring sends 3 tokens per hold and nothing else
    params = ProtocolParams()
    assert params.token_hold > params.token_retransmit
    net = _quiet_ring()
    sent: list[tuple[int, int]] = []
    net.tap = lambda src, dst, data: sent.append((src, _kind(data))) or True
    before = {i: e.statistics() for i, e in net.engines.items()}
    net.run_until(net.now + 2.0)
    after = {i: e.statistics() for i, e in net.engines.items()}
    assert sum(after[i].token_retransmits - before[i].token_retransmits for i in net.ids) == 0
    assert all(after[i].configs_installed == before[i].configs_installed for i in net.ids)
    rotations = after[1].token_rotations - before[1].token_rotations
    assert 2.0 / params.token_hold - 2 <= rotations <= 2.0 / params.token_hold + 1
    assert {k for _s, k in sent} == {2} and len(sent) <= 3 * (rotations + 1)


def test_a_token_lost_on_its_way_to_the_keeping_rep_is_retransmitted_in_time() -> None:
    # the one retransmission comes token_hold + token_retransmit after the loss, before
    # any member's token timeout: no membership change
    net = _quiet_ring()
    dropped: list[float] = []

    def tap(src: int, dst: int, data: bytes) -> bool:
        if src == 3 and dst == 1 and _kind(data) == 2 and not dropped:
            dropped.append(net.now)
            return False
        return True
    net.tap = tap
    configs = net.engines[1].statistics().configs_installed
    net.run_until(net.now + 1.5)
    assert dropped
    assert sum(e.statistics().token_retransmits for e in net.engines.values()) >= 1
    assert all(e.statistics().configs_installed == configs for e in net.engines.values())
    assert net.engines[1].statistics().token_rotations > 0


def test_a_lost_hurry_is_repeated_instead_of_waiting_out_the_hold() -> None:
    # node 3's first HURRY is lost while the rep keeps the token (no packet was sent in
    # this ring yet: the rep is the holder): the repeat (three rotation times, at least
    # token_retransmit / 8; to every member) brings the token long before the rep's hold
    # (130 ms) would have ended
    params = ProtocolParams()
    net = _quiet_ring()
    assert net.engines[1].held is not None
    hurries: list[float] = []

    def tap(src: int, dst: int, data: bytes) -> bool:
        if src == 3 and _kind(data) == 6:
            hurries.append(net.now)
            return len(hurries) > 1          # the first one is lost
        return True
    net.tap = tap
    got: list[float] = []
    t0 = net.now
    net.on_deliver = lambda node, a: got.append(net.now - t0) \
        if isinstance(a, Deliver) and node == 1 else None
    net.submit(3, b"while the token is kept")
    net.run_until(net.now + 0.5)
    assert len(set(hurries)) == 2 and len(hurries) == 3 and len(got) == 1   # 1 + 2 copies
    assert got[0] < params.token_retransmit / 8 + 0.005 < params.token_hold / 4, got
