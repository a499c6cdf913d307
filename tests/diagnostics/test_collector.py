"""The collector: newest snapshot per daemon, STALE aging, publishers leaving the
diagnostics group, merged membership event log, merged groups."""

from __future__ import annotations

from robot_gcs.diagnostics.collector import HealthCollector, encode_snapshot, split_private
from robot_gcs.diagnostics.model import Grade, GroupHealth, MembershipEvent
from robot_gcs.diagnostics.rules import load_rules

from .helpers import T0, daemon_health

PUBS = ("#diag#cpu1", "#diag#cpu2", "#diag#cpu3")


def three(c: HealthCollector, now: float = 10.0) -> None:
    for i in (1, 2, 3):
        assert c.receive(encode_snapshot(daemon_health(f"cpu{i}", i)), now)
    c.on_view(PUBS + ("#mon1#cpu1",), ("#mon1#cpu1",), "JOIN", T0)


def grades(c: HealthCollector, now: float) -> dict[str, Grade]:
    return {v.health.name: v.grade for v in c.cluster(now, T0 + now).daemons}


def test_fresh_snapshots_are_ok_and_age_into_stale() -> None:
    c = HealthCollector(load_rules(), source="cpu1")
    three(c)
    assert grades(c, 11.0) == {"cpu1": Grade.OK, "cpu2": Grade.OK, "cpu3": Grade.OK}
    c.receive(encode_snapshot(daemon_health("cpu1", 1)), 13.5)
    c.receive(encode_snapshot(daemon_health("cpu2", 2)), 13.5)
    # cpu3 has been silent for 3.5 s > stale_after_s (3 s)
    g = grades(c, 13.5)
    assert g == {"cpu1": Grade.OK, "cpu2": Grade.OK, "cpu3": Grade.STALE}
    cl = c.cluster(13.5, T0)
    assert cl.grade is Grade.STALE
    (cpu3,) = [v for v in cl.daemons if v.health.name == "cpu3"]
    assert cpu3.stale and not cpu3.left and cpu3.age_s == 3.5


def test_a_publisher_leaving_with_network_cause_makes_its_daemon_stale_at_once() -> None:
    c = HealthCollector(load_rules())
    three(c)
    c.on_view(("#diag#cpu1", "#diag#cpu2", "#mon1#cpu1"), ("#diag#cpu3",), "NETWORK", T0 + 1)
    cl = c.cluster(10.5, T0 + 1)
    (cpu3,) = [v for v in cl.daemons if v.health.name == "cpu3"]
    assert cpu3.grade is Grade.STALE and cpu3.left and cpu3.left_cause == "NETWORK"
    assert c.publishers() == {"cpu1", "cpu2"}
    last = cl.events[-1]
    assert (last.daemon, last.cause) == ("cpu3", "NETWORK") and "left" in last.detail
    # its topics and sessions no longer count
    assert {t.daemon for t in cl.topics} == {"cpu1", "cpu2"}
    # it comes back: a new snapshot clears the mark
    c.on_view(PUBS + ("#mon1#cpu1",), ("#diag#cpu3",), "JOIN", T0 + 5)
    c.receive(encode_snapshot(daemon_health("cpu3", 3)), 15.0)
    assert grades(c, 15.0)["cpu3"] is Grade.OK


def test_transitional_views_change_nothing() -> None:
    c = HealthCollector(load_rules())
    three(c)
    c.on_view(("#diag#cpu1",), ("#diag#cpu2", "#diag#cpu3"), "NETWORK", T0, transitional=True)
    assert set(grades(c, 10.0).values()) == {Grade.OK}


def test_events_are_merged_deduplicated_and_time_ordered() -> None:
    c = HealthCollector(load_rules(), event_limit=5)
    e_old = MembershipEvent(T0 - 10, "cpu1", "JOIN", "1.4", ("cpu1", "cpu2"))
    e_new = MembershipEvent(T0 - 1, "cpu1", "NETWORK", "1.8", ("cpu1",), "left: cpu2")
    for _ in range(2):       # the same history arrives in every snapshot
        c.add(daemon_health("cpu1", 1, history=(e_old, e_new)), 1.0)
    c.add(daemon_health("cpu2", 2, history=(MembershipEvent(T0 - 5, "cpu2", "JOIN", "1.4",
                                                             ("cpu1", "cpu2")),)), 1.0)
    assert [(e.daemon, e.cause) for e in c.cluster(1.0, T0).events] == \
        [("cpu1", "JOIN"), ("cpu2", "JOIN"), ("cpu1", "NETWORK")]
    for i in range(10):
        c.add(daemon_health("cpu3", 3, history=(MembershipEvent(T0 + i, "cpu3", "JOIN"),)), 1.0)
    events = c.cluster(1.0, T0).events
    assert len(events) == 5 and events[-1].time == T0 + 9


def test_groups_are_merged_from_fresh_daemons_and_reserved_groups_hidden() -> None:
    c = HealthCollector(load_rules())
    c.add(daemon_health("cpu1", 1, groups=(GroupHealth("control", ("#a#cpu1",)),
                                           GroupHealth("diag:health", ("#diag#cpu1",)))), 1.0)
    c.add(daemon_health("cpu2", 2, groups=(GroupHealth("control", ("#b#cpu2",)),)), 1.0)
    c.add(daemon_health("cpu3", 3, groups=(GroupHealth("old", ("#c#cpu3",)),)), -5.0)  # stale
    cl = c.cluster(1.0, T0)
    assert [(g.group, g.members) for g in cl.groups] == [("control", ("#a#cpu1", "#b#cpu2"))]


def test_listeners_are_members_that_are_not_publishers() -> None:
    c = HealthCollector(load_rules())
    assert c.listeners(PUBS) == ()
    assert c.listeners(PUBS + ("#mon7#cpu2",)) == ("#mon7#cpu2",)
    assert split_private("#mon7#cpu2") == ("mon7", "cpu2")
    assert split_private("plain") == ("plain", "")


def test_expected_daemons_that_never_reported_are_stale_and_unknown() -> None:
    c = HealthCollector(load_rules())
    c.expect(("cpu1", "cpu2", "cpu4"), 5.0)
    c.receive(encode_snapshot(daemon_health("cpu1", 1)), 6.0)
    c.receive(encode_snapshot(daemon_health("cpu2", 2)), 6.0)
    views = {v.health.name: v for v in c.cluster(7.0, T0).daemons}
    assert views["cpu4"].grade is Grade.STALE and views["cpu4"].health.state == "UNKNOWN"
    assert views["cpu4"].age_s == 2.0 and views["cpu1"].grade is Grade.OK
    assert c.expected() - c.reported() == {"cpu4"}
    c.receive(encode_snapshot(daemon_health("cpu4", 4)), 7.5)
    assert c.cluster(8.0, T0).grade is Grade.OK
