"""Config hardening (issue 15, case 7): numbers must be finite, a key given twice is an
error with both lines, and a daemon that cannot bind says which address and which config
line in one line on stderr -- never a traceback."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

from robot_gcs.cli import main
from robot_gcs.config import parse_config
from robot_gcs.core.params import ProtocolParams
from robot_gcs.errors import ConfigError, LocalProtocolError
from robot_gcs.testing import free_udp_ports

GOOD = """\
ring:
  name: rover1
  timeouts:
    token_ms: 200
  runtime:
    switch_interval_ms: 5
daemons:
  - name: cpu1
    address: 127.0.0.1:48101
"""


def _err(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "x.yaml")
    return info.value


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf", "0", "-3"])
@pytest.mark.parametrize("key,line,field", [
    ("token_ms: 200", 4, "ring.timeouts.token_ms"),
    ("switch_interval_ms: 5", 6, "ring.runtime.switch_interval_ms"),
])
def test_numbers_must_be_positive_and_finite(value: str, key: str, line: int,
                                             field: str) -> None:
    name = key.split(":")[0]
    e = _err(GOOD.replace(key, f"{name}: {value}"))
    assert (e.path, e.line, e.field) == ("x.yaml", line, field)
    assert "finite" in str(e)


def test_diagnostics_period_rejects_nan() -> None:
    e = _err(GOOD.replace("daemons:", "  diagnostics:\n    period_ms: .nan\ndaemons:"))
    assert e.field == "ring.diagnostics.period_ms" and e.line == 8


def test_protocol_params_reject_nan_and_inf_in_code_too() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(LocalProtocolError, match="positive and finite"):
            ProtocolParams(token_timeout=bad)


@pytest.mark.parametrize("text,line,field,first", [
    (GOOD.replace("    token_ms: 200", "    token_ms: 200\n    token_ms: 300"), 5,
     "ring.timeouts.token_ms", 4),
    (GOOD.replace("  name: rover1", "  name: rover1\n  name: rover2"), 3, "ring.name", 2),
    (GOOD + "    address: 127.0.0.1:48102\n", 10, "daemons[0].address", 9),
    (GOOD + "ring: {}\n", 10, "ring", 1),
])
def test_duplicate_keys_are_errors_naming_both_lines(text: str, line: int, field: str,
                                                     first: int) -> None:
    e = _err(text)
    assert (e.path, e.line, e.field) == ("x.yaml", line, field)
    assert f"duplicate key" in str(e) and f"first on line {first}" in str(e)


# ---------------------------------------------------------------------------- bind errors

def _config(tmp_path: Path, address: str, extra: str = "") -> Path:
    path = tmp_path / "ring.yaml"
    path.write_text(f"ring:\n  name: bindtest\n  security: insecure\n"
                    f"  state_dir: {tmp_path / 'state'}\n"
                    f"daemons:\n  - name: d1\n    address: {address}\n{extra}")
    return path


def _run_daemon(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["daemon", "-c", str(path), "-n", "d1"])
    err = capsys.readouterr().err
    return rc, err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("robot-gcs daemon:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_udp_port_in_use_names_address_and_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = free_udp_ports(1)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", port))
    try:
        path = _config(tmp_path, f"127.0.0.1:{port}")
        rc, err = _run_daemon(path, capsys)
    finally:
        holder.close()
    line = _one_line(err)
    assert rc == 2
    assert f"{path}:6: daemons[0].address: cannot bind 127.0.0.1:{port}:" in line
    assert "in use" in line


def test_non_local_address_names_address_and_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never configured on a host, so bind fails (EADDRNOTAVAIL)
    path = _config(tmp_path, "192.0.2.1:48999")
    rc, err = _run_daemon(path, capsys)
    line = _one_line(err)
    assert rc == 2
    assert f"{path}:6: daemons[0].address: cannot bind 192.0.2.1:48999:" in line


@pytest.mark.parametrize("kind", ["regular file", "live listener"])
def test_socket_path_taken_is_one_line_with_the_config_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    import tempfile
    sockdir = Path(tempfile.mkdtemp(prefix="gcs"))     # short: AF_UNIX paths max 107 bytes
    sock_path = sockdir / "d1.sock"
    listener = None
    if kind == "regular file":
        sock_path.write_text("not a socket")
    else:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(sock_path))
        listener.listen(1)
    try:
        (port,) = free_udp_ports(1)
        path = _config(tmp_path, f"127.0.0.1:{port}", f"    socket: {sock_path}\n")
        rc, err = _run_daemon(path, capsys)
    finally:
        if listener is not None:
            listener.close()
        sock_path.unlink(missing_ok=True)
        sockdir.rmdir()
    line = _one_line(err)
    assert rc == 2
    assert f"{path}:6: daemons[0].socket: cannot bind unix:{sock_path}:" in line
    assert ("not a socket" if kind == "regular file" else "another daemon listens") in line


def test_tcp_client_port_in_use_names_address_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    tcp_port = holder.getsockname()[1]
    try:
        (port,) = free_udp_ports(1)
        path = _config(tmp_path, f"127.0.0.1:{port}", f"    tcp: 127.0.0.1:{tcp_port}\n")
        rc, err = _run_daemon(path, capsys)
    finally:
        holder.close()
    line = _one_line(err)
    assert rc == 2
    assert f"{path}:6: daemons[0].tcp: cannot bind tcp:127.0.0.1:{tcp_port}:" in line


class _Tty:
    """A stdout that records every write call and yields the GIL inside each one."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        import time
        self.writes.append(text)
        time.sleep(0.0002)
        return len(text)

    def flush(self) -> None:
        pass


def test_daemon_command_lines_are_written_whole_from_two_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from robot_gcs.runtime import command
    tty = _Tty()
    monkeypatch.setattr("sys.stdout", tty)

    def talk(tag: str) -> None:
        for i in range(50):
            command._say(f"{tag} line {i}")

    threads = [threading.Thread(target=talk, args=(t,)) for t in ("ring", "stats")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tty.writes) == 100
    assert all(w.endswith("\n") and w.count("\n") == 1 for w in tty.writes)
