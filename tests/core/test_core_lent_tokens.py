"""A lone sender borrows the quiet token (core/token_flow.py ``_lends``, the TOKEN's
``lent`` flag), in virtual time: its messages leave at once, and the others still get
the token within a few hops when they have work."""

from __future__ import annotations

from robot_gcs.core.actions import Deliver
from robot_gcs.core.params import ProtocolParams

from netsim import Net

HOP = 0.0003
HURRY = 6                       # the header's type byte of a HURRY (core/wire.py)


def _stream(sender: int, n: int = 3, count: int = 50) -> tuple[Net, list[float]]:
    """A quiet ring of ``n``; ``sender`` alone sends one message every 10 ms."""
    net = Net(list(range(1, n + 1)), latency=HOP, seed=1)
    net.start_all()
    assert net.run_until_stable(limit=10)
    net.run_until(net.now + 1.0)
    sent: dict[bytes, float] = {}
    lat: list[float] = []
    net.on_deliver = lambda node, a: lat.append(net.now - sent[a.payload]) \
        if isinstance(a, Deliver) and a.payload in sent and node != sender else None
    for i in range(count):
        sent[b"m%d" % i] = net.now
        net.submit(sender, b"m%d" % i)
        net.run_until(net.now + 0.010)
    assert len(lat) == count * (n - 1)
    return net, sorted(lat)


def test_a_lone_periodic_sender_sends_on_a_token_it_keeps() -> None:
    # after its first two messages the sender's predecessor lends it the quiet token and
    # it keeps it between messages: each message leaves at once (one hop to arrive), no
    # HURRY; without lending the token waited at the predecessor and every message cost
    # a HURRY and a hop first (900 us at 300 us hops)
    for n, sender in ((3, 1), (3, 2), (3, 3), (2, 1), (5, 4)):
        net, lat = _stream(sender, n)
        me = net.engines[sender]
        assert lat[len(lat) * 9 // 10] <= 1.5 * HOP, (n, sender, lat[-5:])
        assert me.held is not None and me.held.lent, (n, sender)
        assert sum(e.n["hurries"] for e in net.engines.values()) <= 3, (n, sender)
        assert me.statistics().lent_holds >= 45
        assert net.engines[(sender - 2) % n + 1].statistics().tokens_lent >= 45


def test_the_lent_token_goes_home_when_the_sender_stops() -> None:
    # the sender keeps the lent token token_hold and lets it go; its predecessor, seeing
    # a rotation with nothing new, keeps it as any quiet holder: an idle ring as before,
    # one rotation per hold and no token retransmission
    params = ProtocolParams()
    net, _ = _stream(2)
    before = {i: e.statistics() for i, e in net.engines.items()}
    net.run_until(net.now + 2.0)
    after = {i: e.statistics() for i, e in net.engines.items()}
    assert [e.held is not None for e in net.engines.values()] == [True, False, False]
    assert not net.engines[1].held.lent
    assert sum(after[i].token_retransmits - before[i].token_retransmits for i in net.ids) == 0
    assert all(after[i].configs_installed == before[i].configs_installed for i in net.ids)
    rotations = after[1].token_rotations - before[1].token_rotations
    assert rotations <= 2.0 / params.token_hold + 2


def _send_beside_the_borrower(node: int) -> tuple[list[tuple[int, int]], list[float]]:
    """Node 2 sends alone and keeps the lent token; then ``node`` sends one message:
    the HURRYs that go (src, dst) and how long the others wait for the message."""
    net, _ = _stream(2)
    hurries: list[tuple[int, int]] = []
    net.tap = lambda src, dst, data: (hurries.append((src, dst)) if data[3] == HURRY
                                      else None) or True
    got: list[float] = []
    t0 = net.now
    net.on_deliver = lambda at, a: got.append(net.now - t0) \
        if isinstance(a, Deliver) and a.payload == b"beside" and at != node else None
    net.submit(node, b"beside")
    net.run_until(net.now + 0.05)
    return hurries, got


def test_a_hurry_to_the_lender_is_passed_on_to_the_borrower() -> None:
    # node 3's HURRY goes to the holder it knows, node 1 (the predecessor of the newest
    # packet's sender), which passes it on to node 2: node 3's message is out after 4
    # hops (HURRY, relay, token, message), not after a HURRY repeat (token_retransmit /
    # 8 = 10 ms)
    hurries, got = _send_beside_the_borrower(3)
    assert hurries == [(3, 1), (1, 2)], hurries
    assert len(got) == 2 and max(got) <= 4.5 * HOP, got


def test_the_lenders_own_work_hurries_the_borrower() -> None:
    # node 1 lent the token to node 2 and has work itself: it HURRYs node 2 at once (it
    # is the holder on paper but knows where the token is)
    hurries, got = _send_beside_the_borrower(1)
    assert hurries == [(1, 2)], hurries
    assert len(got) == 2 and max(got) <= 4.5 * HOP, got


def _packets_of_a_burst(with_burst: bool) -> tuple[int, int]:
    """Node 2 keeps the lent token and submits ten messages in one instant, as ten
    inputs that each settle (a Node's timers due together, each publish run by the
    runtime at once): (data packets, token visits) it spends on them."""
    net, _ = _stream(2)
    me = net.engines[2]
    assert me.held is not None
    kinds: list[int] = []
    net.tap = lambda src, dst, data: (kinds.append(data[3]) if src == 2 and dst == 3
                                      else None) or True
    if with_burst:
        net._run(2, me.local_burst(net.now, "node", True))
    for i in range(10):
        net.submit(2, b"burst %d" % i)
        net.run_until(net.now)          # each is an input: what is due now runs after it
    if with_burst:
        net._run(2, me.local_burst(net.now, "node", False))
    net.run_until(net.now + 0.05)
    assert [p for p in net.delivered(3) if p.startswith(b"burst")] == \
        [b"burst %d" % i for i in range(10)]
    return kinds.count(1), kinds.count(2)


def test_a_burst_leaves_on_one_visit_of_the_kept_token() -> None:
    # the burst's first message would release the kept token at once and go alone,
    # the other nine a rotation later; inside local_burst all ten leave on one visit
    assert _packets_of_a_burst(True) == (1, 1)
    data, tokens = _packets_of_a_burst(False)
    assert data >= 2 and tokens >= 2
