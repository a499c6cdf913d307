"""Keys (robot-gcs keygen, key files in configs) and the refusal to start without one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from robot_gcs.cli import main
from robot_gcs.config import load_config, parse_config
from robot_gcs.errors import ConfigError
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import free_udp_ports

ROOT = Path(__file__).resolve().parents[2]


def _ring(tmp: Path, ring_lines: str, host: str = "127.0.0.1") -> Path:
    port = free_udp_ports(1)[0]
    p = tmp / "ring.yaml"
    p.write_text(f"ring:\n  name: sec\n  state_dir: {tmp / 'state'}\n{ring_lines}"
                 f"daemons:\n  - name: d1\n    address: {host}:{port}\n")
    return p


def test_keygen_writes_a_private_key_and_never_overwrites(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    key = tmp_path / "ring.key"
    assert main(["keygen", str(key)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = key.read_text()
    assert len(text.strip()) == 64 and int(text, 16) >= 0
    assert "key_file:" in capsys.readouterr().out
    assert main(["keygen", str(key)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert key.read_text() == text
    other = tmp_path / "other.key"
    assert main(["keygen", str(other)]) == 0 and other.read_text() != text


def test_daemon_command_without_a_key_exits_nonzero_and_says_what_to_do(tmp_path: Path
                                                                       ) -> None:
    cfg = _ring(tmp_path, "")
    proc = subprocess.run([sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(cfg),
                           "-n", "d1"], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc
    assert "robot-gcs keygen" in proc.stderr and "security: insecure" in proc.stderr
    assert "ready" not in proc.stdout


def test_embedded_daemon_refuses_too_and_an_insecure_ring_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="robot-gcs keygen"):
        Daemon(load_config(_ring(tmp_path, "")), "d1", health=False).start()
    cfg = load_config(_ring(tmp_path, "  security: insecure\n"))
    assert cfg.ring.insecure and cfg.ring.key is None
    with Daemon(cfg, "d1", health=False) as d:
        assert d.transport.sealer is None and d.wait_members(1, 10)


def test_a_keyed_daemon_seals(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    assert main(["keygen", str(key)]) == 0
    with Daemon(load_config(_ring(tmp_path, f"  key_file: {key}\n")), "d1",
                health=False) as d:
        assert d.transport.sealer is not None and d.wait_members(1, 10)


@pytest.mark.parametrize("lines, field, words", [
    ("  security: insecure\n  key_file: k.key\n", "ring.key_file", "contradicts"),
    ("  security: open\n", "ring.security", "'sealed' or 'insecure'"),
    ("  accept_key_files: [k.key]\n", "ring.accept_key_files", "needs `key_file`"),
    ("  key_file: loose.key\n", "ring.key_file", "chmod 600"),
    ("  key_file: missing.key\n", "ring.key_file", "cannot read"),
    ("  key_file: short.key\n", "ring.key_file", "too short"),
    ("  key_file: k.key\n  accept_key_files: [missing.key]\n", "ring.accept_key_files[0]",
     "cannot read"),
])
def test_key_config_errors_name_the_field_and_line(tmp_path: Path, lines: str, field: str,
                                                   words: str) -> None:
    assert main(["keygen", str(tmp_path / "k.key")]) == 0
    (tmp_path / "loose.key").write_text("0123456789abcdef0123")
    (tmp_path / "loose.key").chmod(0o644)
    (tmp_path / "short.key").write_text("abc")
    (tmp_path / "short.key").chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_config(_ring(tmp_path, lines))
    assert info.value.field == field and words in str(info.value)
    assert info.value.line is not None and info.value.line >= 4


def test_create_key_makes_one_key_for_loopback_rings_only(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "local.key"
    cfg = load_config(_ring(tmp_path, f"  key_file: {key}\n  create_key: true\n"))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and cfg.ring.key == key.read_bytes().strip()
    again = load_config(_ring(tmp_path, f"  key_file: {key}\n  create_key: true\n"))
    assert again.ring.key == cfg.ring.key                  # the second daemon reads it
    with pytest.raises(ConfigError, match="only for rings"):
        load_config(_ring(tmp_path, f"  key_file: {key}\n  create_key: true\n",
                          host="192.0.2.7"))


def test_shipped_configs_parse_and_local_ones_carry_a_key() -> None:
    for name in ("local3.yaml", "robot_demo.yaml", "pair.yaml"):
        text = (ROOT / "config" / name).read_text()
        assert "create_key: true" in text and "key_file:" in text
    robot = parse_config((ROOT / "config" / "robot.yaml").read_text())
    assert robot.ring.key is None and not robot.ring.insecure   # no daemon starts from it
