"""Group membership limits (issue 15, case 1): joins beyond the per-client or per-daemon
limit are refused at join time with a clear error, so every daemon's G_STATE fits in
one message; a state that still does not fit is cut, never left unsent, and the other
daemons' exchange completes (group traffic goes on everywhere)."""

from __future__ import annotations

import pytest

from robot_gcs.core import group_wire as gw
from robot_gcs.core.events import DataMessage
from robot_gcs.core.group_limits import (STATE_HEAD, WORST_ENTRY, GroupLimits, GroupQuota,
                                         fit_state)
from robot_gcs.core.types import RingId
from robot_gcs.errors import LocalProtocolError
from robot_gcs.sim.group_fakering import ModelRing

LIMIT = 4 * 1024 * 1024


def test_default_limits_keep_the_worst_state_under_the_message_limit() -> None:
    lim = GroupLimits.for_message(LIMIT)
    assert lim == GroupLimits(4096, 16384)
    # the worst state: every membership its own group, 64-byte group and client names
    groups = tuple((f"{i:064d}", ("c" * 32 + f"{i // 4096:032d}",))
                   for i in range(lim.memberships_per_daemon))
    assert len(gw.encode(gw.GState(RingId(1, 4), 1, groups))) <= LIMIT
    small = GroupLimits.for_message(64 * 1024)
    assert small.memberships_per_daemon == (64 * 1024 - STATE_HEAD) // WORST_ENTRY
    assert small.groups_per_client <= small.memberships_per_daemon


def test_quota_counts_requests_and_gives_room_back() -> None:
    q = GroupQuota(GroupLimits(2, 3))
    q.join("a", "g1")
    q.join("a", "g1")                         # already in: no second count
    q.join("a", "g2")
    with pytest.raises(LocalProtocolError, match=r"in 2 groups already \(the limit per "
                                                 r"client is 2"):
        q.join("a", "g3")
    q.join("b", "g1")
    with pytest.raises(LocalProtocolError, match="limit per daemon is 3"):
        q.join("b", "g2")
    q.leave("a", "g1")
    q.join("b", "g2")
    q.drop("b")
    assert q.total == 1 and q.refused == 2


def test_joins_beyond_the_limits_are_refused_before_anything_is_ordered() -> None:
    r = ModelRing(2, group_options={"limits": GroupLimits(3, 4)})
    for n in r.live():
        r.call(n, "client_connect", "a")
        r.call(n, "client_connect", "b")
    for g in ("g1", "g2", "g3"):
        r.call(1, "client_join", "a", g)
    with pytest.raises(LocalProtocolError, match="limit per client is 3"):
        r.call(1, "client_join", "a", "g4")
    r.call(1, "client_join", "b", "g1")
    with pytest.raises(LocalProtocolError, match="limit per daemon is 4"):
        r.call(1, "client_join", "b", "g2")
    r.call(2, "client_join", "b", "g2")       # another daemon has its own budget
    r.run()
    assert sorted(r.groups[1].table.snapshot()) == [
        ("g1", ("#a#d1", "#b#d1")), ("g2", ("#a#d1", "#b#d2")), ("g3", ("#a#d1",))]
    r.call(1, "client_leave", "a", "g3")      # leaving gives room back
    r.call(1, "client_join", "b", "g2")
    with pytest.raises(LocalProtocolError, match="limit per daemon is 4"):
        r.call(1, "client_join", "b", "g3")
    r.call(1, "client_disconnect", "a")       # ... and so does a disconnect
    r.call(1, "client_join", "b", "g3")
    with pytest.raises(LocalProtocolError, match="limit per client is 3"):
        r.call(1, "client_join", "b", "g4")
    r.run()
    assert [g for g, m in r.groups[2].table.snapshot() if "#b#d1" in m] == ["g1", "g2", "g3"]
    assert not any("#a#d1" in m for _, m in r.groups[2].table.snapshot())


def test_an_oversized_state_is_cut_and_the_exchange_still_completes() -> None:
    # limits far above what the message holds (as after a config change): 200 groups of
    # 64-byte names need ~26 KB of state, the messages hold 8 KB
    r = ModelRing(3, group_options={"limits": GroupLimits(10_000, 10_000),
                                    "max_message": 8192})
    for n in r.live():
        r.call(n, "client_connect", "a")
    names = [f"{i:064d}" for i in range(200)]
    for g in names:
        r.call(1, "client_join", "a", g)
    r.call(2, "client_join", "a", "shared")
    r.call(3, "client_join", "a", "shared")
    r.run()
    r.reconfigure([{1, 2}, {3}])
    r.reconfigure([{1, 2, 3}])              # merge: every daemon sends a G_STATE
    r.run()
    for n in r.live():
        assert r.groups[n].phase.value == "operational", n
        r.take(n)
    assert dict(r.groups[1].statistics().drops)["state_truncated"] >= 1
    kept = fit_state(tuple((g, ("a",)) for g in sorted(names)), 8192)
    assert 0 < len(kept) < 200
    table = dict(r.groups[3].table.snapshot())
    assert table["shared"] == ("#a#d2", "#a#d3")
    assert all(table[g] == ("#a#d1",) for g, _ in kept)
    # group traffic flows between every daemon afterwards
    r.call(2, "client_multicast", "a", "shared", b"after the merge")
    r.run()
    for n in (2, 3):
        assert [e.payload for c, e in r.take(n) if isinstance(e, DataMessage)] == \
            [b"after the merge"]


def test_fit_state_keeps_whole_entries_in_order() -> None:
    groups = tuple((f"g{i}", ("a", "b")) for i in range(10))
    whole = len(gw.encode(gw.GState(RingId(1, 4), 1, groups)))
    assert fit_state(groups, whole) == groups
    cut = fit_state(groups, whole - 1)
    assert cut == groups[:9]
    assert len(gw.encode(gw.GState(RingId(1, 4), 1, cut))) <= whole - 1
