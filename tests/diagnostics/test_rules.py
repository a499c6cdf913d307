"""Rule files: the shipped default loads, grading follows the documented semantics, and
every mistake in a rule file names the file, line and field."""

from __future__ import annotations

import pytest

from robot_gcs.errors import ConfigError
from robot_gcs.diagnostics.model import Grade, SessionHealth, TopicHealth
from robot_gcs.diagnostics.rules import DEFAULT_RULES_PATH, METRICS, load_rules, parse_rules

from .helpers import daemon_health


def test_shipped_default_rules_load_and_cover_the_core_metrics() -> None:
    rules = load_rules()
    assert rules.path == str(DEFAULT_RULES_PATH)
    graded = {r.metric for r in rules.rules}
    assert {"not_operational_s", "rotation_p99_ms", "loop_lag_p99_ms", "retransmits_per_s",
            "drops_per_s", "session.queue_depth", "topic.age_over_deadline"} <= graded
    assert rules.stale_after_s == 3.0


def test_a_healthy_daemon_grades_ok_with_the_default_rules() -> None:
    findings = load_rules().grade_daemon(daemon_health("cpu1", 1))
    assert findings and all(f.grade is Grade.OK for f in findings)


def test_loop_lag_above_warn_and_error_limits() -> None:
    rules = load_rules()
    warn = {f.metric: f for f in rules.grade_daemon(daemon_health("cpu1", 1, loop_lag_p99_ms=35.0))}
    assert warn["loop_lag_p99_ms"].grade is Grade.WARN and warn["loop_lag_p99_ms"].limit == 20
    err = {f.metric: f for f in rules.grade_daemon(daemon_health("cpu1", 1, loop_lag_p99_ms=150.0))}
    assert err["loop_lag_p99_ms"].grade is Grade.ERROR and err["loop_lag_p99_ms"].limit == 100


def test_time_outside_operational_warns_then_errors() -> None:
    rules = load_rules()
    g = {f.metric: f.grade for f in rules.grade_daemon(
        daemon_health("cpu1", 1, state="GATHER", time_in_state_s=0.4))}
    assert g["not_operational_s"] is Grade.WARN
    g = {f.metric: f.grade for f in rules.grade_daemon(
        daemon_health("cpu1", 1, state="RECOVERY", time_in_state_s=5.0))}
    assert g["not_operational_s"] is Grade.ERROR


def test_unknown_values_are_not_graded() -> None:
    rules = load_rules()
    metrics = {f.metric for f in rules.grade_daemon(
        daemon_health("cpu1", 1, rotation_p99_ms=None, loop_lag_p99_ms=None))}
    assert "rotation_p99_ms" not in metrics and "loop_lag_p99_ms" not in metrics


def test_below_rules_and_last_matching_rule_wins() -> None:
    rules = parse_rules("""
rules:
  - metric: topic.rate_hz
    below: true
    warn: 5
  - metric: topic.rate_hz
    match: "/odom"
    below: true
    warn: 40
    error: 10
""")
    def grade(topic: str, hz: float) -> Grade:
        (f,) = [f for f in rules.grade_topic(TopicHealth(topic, hz, 0.0, 0.0))
                if f.metric == "topic.rate_hz"]
        return f.grade
    assert grade("/odom", 50) is Grade.OK
    assert grade("/odom", 30) is Grade.WARN
    assert grade("/odom", 5) is Grade.ERROR
    assert grade("/plan", 30) is Grade.OK          # the general rule: warn below 5
    assert grade("/plan", 4) is Grade.WARN


def test_session_rules_match_daemon_slash_session() -> None:
    rules = parse_rules("""
rules:
  - metric: session.queue_depth
    match: "cpu2/*"
    warn: 10
""")
    assert rules.grade_session("cpu2", SessionHealth("logger", 11))[0].grade is Grade.WARN
    assert rules.grade_session("cpu1", SessionHealth("logger", 11)) == ()


@pytest.mark.parametrize("text, line, field, words", [
    ("rules:\n  - metric: loop_lag_p99_ms\n    wran: 3\n", 3, "rules[0].wran", "unknown key"),
    ("rules:\n  - metric: loop_lag\n    warn: 3\n", 2, "rules[0].metric", "unknown metric"),
    ("rules:\n  - metric: loop_lag_p99_ms\n    warn: 30\n    error: 10\n", 3,
     "rules[0].warn", "at most error"),
    ("rules:\n  - metric: topic.rate_hz\n    below: true\n    warn: 5\n    error: 10\n", 4,
     "rules[0].warn", "at least error"),
    ("rules:\n  - metric: loop_lag_p99_ms\n    warn: lots\n", 3, "rules[0].warn", "number"),
    ("rules:\n  - metric: loop_lag_p99_ms\n", 2, "rules[0]", "warn"),
    ("rules:\n  - metric: loop_lag_p99_ms\n    below: maybe\n    warn: 1\n", 3,
     "rules[0].below", "true or false"),
    ("version: 2\nrules: []\n", 1, "version", "unsupported"),
    ("stale_after_s: -1\nrules: []\n", 1, "stale_after_s", "positive"),
    ("rules: {metric: x}\n", 1, "rules", "list"),
    ("rulez: []\n", 1, "rulez", "unknown key"),
    ("version: 1\n", 1, "rules", "missing"),
    ("rules:\n  - metric: loop_lag_p99_ms\n    warn: 1\n    warn: 2\n", 4, "rules[0].warn",
     "duplicate"),
])
def test_bad_rule_files_name_file_line_and_field(text: str, line: int, field: str,
                                                  words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(text, "site.yaml")
    err = info.value
    assert (err.path, err.line, err.field) == ("site.yaml", line, field)
    assert words in str(err)
    assert str(err).startswith(f"site.yaml:{line}: {field}: ")


def test_yaml_syntax_errors_carry_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules("rules:\n  - metric: [unclosed\n", "x.yaml")
    assert info.value.path == "x.yaml" and info.value.line is not None
    assert "not valid YAML" in str(info.value)


def test_empty_and_missing_rule_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="empty"):
        parse_rules("", "e.yaml")
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path / "nope.yaml")
    assert info.value.path == str(tmp_path / "nope.yaml")


def test_every_metric_in_the_catalogue_can_be_used_in_a_rule() -> None:
    text = "rules:\n" + "".join(f"  - metric: {m}\n    warn: 1\n" for m in sorted(METRICS))
    assert len(parse_rules(text).rules) == len(METRICS)


def test_without_the_shipped_file_grading_falls_back_to_stale_only(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from robot_gcs.diagnostics import rules as rules_module
    monkeypatch.setattr(rules_module, "DEFAULT_RULES_PATH", tmp_path / "missing.yaml")
    monkeypatch.setattr(rules_module, "_default_cache", [])
    fallback = rules_module.load_rules()
    assert fallback.rules == () and fallback.stale_after_s == 3.0
    assert fallback.grade_daemon(daemon_health("cpu1", 1, loop_lag_p99_ms=1e6)) == ()


def test_a_site_file_extends_the_defaults_and_overrides_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from robot_gcs.diagnostics.rules import DEFAULT_RULES_PATH
    demo = load_rules(DEFAULT_RULES_PATH.parent / "robot_demo.yaml")
    assert len(demo.rules) > len(load_rules().rules) and demo.stale_after_s == 3.0
    slow = {f.metric: f.grade for f in demo.grade_topic(TopicHealth("/odom", 30.0, 0.0, 0.05))}
    assert slow["topic.rate_hz"] is Grade.WARN and slow["topic.age_s"] is Grade.OK
    (tmp_path / "base.yaml").write_text("stale_after_s: 9\nrules:\n  - metric: ring_size\n"
                                        "    below: true\n    warn: 3\n")
    (tmp_path / "site.yaml").write_text("extends: base.yaml\nrules:\n  - metric: ring_size\n"
                                        "    match: cpu1\n    below: true\n    warn: 2\n")
    site = load_rules(tmp_path / "site.yaml")
    assert site.stale_after_s == 9.0 and len(site.rules) == 2
    assert site.rule_for("ring_size", "cpu1").warn == 2         # the later rule wins
    assert site.rule_for("ring_size", "cpu2").warn == 3


def test_extends_errors_point_at_the_extends_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "loop.yaml").write_text("version: 1\nextends: loop.yaml\nrules: []\n")
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path / "loop.yaml")
    assert info.value.line == 2 and info.value.field == "extends" and "cycle" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_rules("extends: 3\nrules: []\n", "x.yaml")
    assert (info.value.line, info.value.field) == (1, "extends")
    with pytest.raises(ConfigError) as info:
        load_rules_from = tmp_path / "missing_base.yaml"
        load_rules_from.write_text("extends: nope.yaml\nrules: []\n")
        load_rules(load_rules_from)
    assert info.value.path == str(tmp_path / "nope.yaml")


def test_a_type_mismatch_on_a_topic_is_an_error() -> None:
    from robot_gcs.diagnostics.topics import topic_records
    from robot_gcs.pubsub import TopicStats
    stats = [TopicStats("/odom", "sub", n, "m:Odometry", "fifo", 10, 0, errs, 0, 0.01, 50.0)
             for n, errs in (("a", 0), ("b", 3))]
    (rec,) = topic_records(stats)
    assert rec.type_errors == 3
    rules = load_rules()
    assert max(f.grade for f in rules.grade_topic(TopicHealth("/odom", 50.0, 1.0, 0.01,
                                                               type_errors=3))) is Grade.ERROR
    assert all(f.grade is Grade.OK for f in rules.grade_topic(TopicHealth("/odom", 50.0, 1.0, 0.01)))
