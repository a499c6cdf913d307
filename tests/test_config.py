"""Config files: shipped ones load; every mistake is reported with file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from robot_gcs.config import load_config, parse_config
from robot_gcs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
ring:
  name: rover1
  transport:
    mode: unicast
  timeouts:
    token_ms: 200
    consensus_ms: 240
daemons:
  - name: cpu1
    address: 127.0.0.1:48101
    socket: /tmp/robot_gcs/cpu1.sock
  - name: cpu2
    address: 127.0.0.1:48102
"""


def _err(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "x.yaml")
    return info.value


@pytest.mark.parametrize("name", ["local3.yaml", "robot.yaml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "config" / name)
    assert len(cfg.daemons) == 3
    assert [int(d.node_id) for d in cfg.daemons] == [1, 2, 3]
    assert cfg.ring.params.consensus_timeout > cfg.ring.params.token_timeout


def test_node_ids_follow_list_order_and_timeouts_convert() -> None:
    cfg = parse_config(GOOD, "good.yaml")
    assert cfg.daemon("cpu2").node_id == 2
    assert cfg.daemon("cpu1").socket == "unix:/tmp/robot_gcs/cpu1.sock"
    assert cfg.daemon("cpu2").socket is None
    assert cfg.ring.params.token_timeout == pytest.approx(0.2)
    assert cfg.ring.params.consensus_timeout == pytest.approx(0.24)
    ec = cfg.engine_config()
    assert ec.peers == (1, 2) and ec.cluster_id == cfg.cluster_id


def test_cluster_id_is_stable_and_differs_between_rings() -> None:
    a = parse_config(GOOD).cluster_id
    assert a == parse_config(GOOD).cluster_id
    assert a != parse_config(GOOD.replace("rover1", "rover2")).cluster_id
    assert a != parse_config(GOOD.replace("48102", "48103")).cluster_id


def test_token_alone_derives_consensus() -> None:
    cfg = parse_config(GOOD.replace("    consensus_ms: 240\n", "").replace("200", "2000"))
    assert cfg.ring.params.consensus_timeout == pytest.approx(2.4)


def test_consensus_not_above_token_names_the_line() -> None:
    e = _err(GOOD.replace("consensus_ms: 240", "consensus_ms: 200"))
    assert e.path == "x.yaml" and e.line == 7 and e.field == "ring.timeouts.consensus_ms"
    assert "consensus_timeout" in str(e) and str(e).startswith("x.yaml:7:")


def test_fields_in_seconds_take_milliseconds_never_a_bare_number() -> None:
    cfg = parse_config(GOOD.replace("    consensus_ms: 240\n",
                                    "    consensus_ms: 240\n    send_queue_delay_ms: 4\n"))
    assert cfg.ring.params.send_queue_delay == pytest.approx(0.004)
    # ring.protocol takes integer fields only: "send_queue_delay: 1" meant a whole second
    for key in ("send_queue_delay", "reply_window", "token_timeout"):
        e = _err(GOOD.replace("daemons:", f"  protocol:\n    {key}: 1\ndaemons:"))
        assert e.field == f"ring.protocol.{key}" and e.line == 9, e
    ok = parse_config(GOOD.replace("daemons:", "  protocol:\n    max_messages: 10\ndaemons:"))
    assert ok.ring.params.max_messages == 10


def test_unknown_key_is_rejected_with_its_line() -> None:
    e = _err(GOOD.replace("    mode: unicast", "    mode: unicast\n    mdoe: x"))
    assert e.line == 5 and e.field == "ring.transport.mdoe"


def test_duplicate_names_addresses_and_sockets() -> None:
    e = _err(GOOD.replace("name: cpu2", "name: cpu1"))
    assert e.field == "daemons[1].name" and e.line == 12 and "duplicate" in e.problem
    e = _err(GOOD.replace("48102", "48101"))
    assert e.field == "daemons[1].address" and e.line == 13
    e = _err(GOOD + "    socket: unix:/tmp/robot_gcs/cpu1.sock\n")
    assert e.field == "daemons[1].socket"


@pytest.mark.parametrize("bad, field", [
    ("address: 127.0.0.1:48101", "daemons[0].address"),
    ("address: 127.0.0.1:0", "daemons[0].address"),
    ("address: nocolon", "daemons[0].address"),
])
def test_bad_addresses(bad: str, field: str) -> None:
    text = GOOD.replace("address: 127.0.0.1:48101", bad)
    if bad.endswith("48101"):
        text = text.replace("48102", "48101")
        field = "daemons[1].address"
    assert _err(text).field == field


def test_multicast_section_is_validated() -> None:
    mc = GOOD.replace("    mode: unicast", "    mode: multicast\n    group: 10.0.0.1\n    port: 48700")
    e = _err(mc)
    assert e.field == "ring.transport.group" and "multicast" in e.problem and e.line == 5
    ok = parse_config(mc.replace("10.0.0.1", "239.192.7.1"))
    assert ok.ring.transport.group == "239.192.7.1" and ok.ring.transport.port == 48700
    e = _err(GOOD.replace("    mode: unicast", "    mode: unicast\n    group: 239.1.1.1"))
    assert e.field == "ring.transport.group"
    e = _err(GOOD.replace("mode: unicast", "mode: broadcast"))
    assert e.field == "ring.transport.mode"


def test_missing_sections_and_bad_yaml() -> None:
    assert _err("ring:\n  name: x\n").problem.startswith("missing required key 'daemons'")
    e = _err("ring: [\n")
    assert "not valid YAML" in e.problem and e.line is not None
    assert _err(GOOD.replace("  name: rover1\n", "")).field == "ring"
    e = _err(GOOD.replace("token_ms: 200", "token_ms: -5"))
    assert e.field == "ring.timeouts.token_ms"


def test_key_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "ring.key").write_bytes(b"0123456789abcdef0123\n")
    (tmp_path / "ring.key").chmod(0o600)
    p = tmp_path / "c.yaml"
    p.write_text(GOOD.replace("  name: rover1", "  name: rover1\n  key_file: ring.key"))
    assert load_config(p).ring.key == b"0123456789abcdef0123"
    p.write_text(GOOD.replace("  name: rover1", "  name: rover1\n  key_file: missing.key"))
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert info.value.field == "ring.key_file" and info.value.line == 3


def test_unknown_daemon_name() -> None:
    with pytest.raises(ConfigError, match="no daemon named 'cpu9'"):
        parse_config(GOOD).daemon("cpu9")


def test_short_token_scales_the_default_hold() -> None:
    cfg = parse_config(GOOD.replace("token_ms: 200", "token_ms: 100").replace(
        "consensus_ms: 240", "consensus_ms: 150"))
    p = cfg.ring.params
    assert p.token_hold == pytest.approx((p.token_timeout - p.token_retransmit) / 2)
    assert p.problems() == []
    e = _err(GOOD.replace("consensus_ms: 240", "consensus_ms: 240\n    token_hold_ms: 160"))
    assert e.field == "ring.timeouts.token_hold_ms" and "token_hold" in e.problem


def test_tcp_client_address_and_diagnostics_period() -> None:
    cfg = parse_config(GOOD.replace("    socket: /tmp/robot_gcs/cpu1.sock",
                                    "    socket: /tmp/robot_gcs/cpu1.sock\n    tcp: 127.0.0.1:48201")
                       .replace("  transport:", "  diagnostics:\n    period_ms: 500\n  transport:"))
    assert cfg.daemon("cpu1").tcp == "tcp:127.0.0.1:48201"
    assert cfg.ring.diagnostics_period_ms == 500
    e = _err(GOOD.replace("  transport:", "  diagnostics:\n    period_ms: 5\n  transport:"))
    assert e.field == "ring.diagnostics.period_ms" and e.line == 4
    e = _err(GOOD.replace("    socket: /tmp/robot_gcs/cpu1.sock", "    tcp: nope"))
    assert e.field == "daemons[0].tcp"


def test_wildcard_daemon_address_is_rejected() -> None:
    e = _err(GOOD.replace("127.0.0.1:48101", "0.0.0.0:48101"))
    assert e.field == "daemons[0].address" and "wildcard" in e.problem


def test_runtime_switches_default_on_and_must_be_booleans() -> None:
    rt = parse_config(GOOD).ring.runtime
    assert rt.inline_commands and rt.inline_receive and rt.reply_window_us == 300
    cfg = parse_config(GOOD.replace("  transport:",
                                    "  runtime:\n    inline_receive: false\n  transport:"))
    assert cfg.ring.runtime.inline_receive is False
    for key in ("inline_commands", "inline_receive"):
        e = _err(GOOD.replace("  transport:", f"  runtime:\n    {key}: 1\n  transport:"))
        assert e.field == f"ring.runtime.{key}" and e.line == 4
        assert "true or false" in str(e)
