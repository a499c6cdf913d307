"""Helpers for testing programs built on robot_gcs (shipped, like trio's testing tools).

``free_udp_ports(n)`` picks n distinct UDP ports on 127.0.0.1 that were free a moment ago,
for rings started by tests and benchmarks. The ports are released before they are returned,
so another program could take one in between; bind-to-zero is not possible for a ring whose
config must name every daemon's port in advance.

``write_ring_config(directory, n)`` writes a loopback ring config of n daemons on such
ports (``ring.yaml`` in ``directory``) and returns its path; timeouts left out take the
engine defaults (core/params.py). The ring is sealed with a throw-away key
(``directory/ring.key``, made when missing) unless ``insecure=True`` or ``extra_ring``
names its own ``key_file`` or ``security``.
"""

from __future__ import annotations

import socket
from pathlib import Path

from .security.keys import write_key_file

__all__ = ["free_udp_ports", "write_ring_config", "ring_key_line"]


def ring_key_line(directory: Path) -> str:
    """``  key_file: directory/ring.key`` (a line of a ``ring:`` mapping), making a
    throw-away key there when it is missing -- for tests that write their own configs."""
    key = Path(directory) / "ring.key"
    if not key.exists():
        write_key_file(str(key))
    return f"  key_file: {key}"


def write_ring_config(directory: Path, n: int, *, name: str = "testring", prefix: str = "d",
                      token_ms: int | None = None, consensus_ms: int | None = None,
                      switch_interval_ms: float | None = None,
                      reply_window_us: int | None = None,
                      inline_receive: bool | None = None, sockets: bool = False,
                      extra_ring: str = "", filename: str = "ring.yaml",
                      insecure: bool = False) -> Path:
    """A ring of n daemons ``{prefix}1..{prefix}n`` on 127.0.0.1; returns the file's path.

    ``sockets``: each daemon also serves sessions on ``directory/{name}.sock``.
    ``extra_ring``: YAML lines appended to the ``ring:`` mapping (indented two spaces).
    """
    timeouts = []
    if token_ms is not None:
        timeouts.append(f"    token_ms: {token_ms}")
    if consensus_ms is not None:
        timeouts.append(f"    consensus_ms: {consensus_ms}")
    lines = ["ring:", f"  name: {name}", f"  state_dir: {directory / 'state'}",
             "  timeouts:" if timeouts else "  timeouts: {}", *timeouts]
    runtime = [f"    {key}: {str(value).lower() if isinstance(value, bool) else value}"
               for key, value in (("switch_interval_ms", switch_interval_ms),
                                  ("reply_window_us", reply_window_us),
                                  ("inline_receive", inline_receive)) if value is not None]
    if runtime:
        lines += ["  runtime:", *runtime]
    if insecure:
        lines.append("  security: insecure")
    elif "key_file:" not in extra_ring and "security:" not in extra_ring:
        lines.append(ring_key_line(directory))
    if extra_ring:
        lines.append(extra_ring.rstrip("\n"))
    lines.append("daemons:")
    for i, port in enumerate(free_udp_ports(n)):
        daemon = f"{prefix}{i + 1}"
        lines += [f"  - name: {daemon}", f"    address: 127.0.0.1:{port}"]
        if sockets:
            lines.append(f"    socket: {directory / (daemon + '.sock')}")
    path = directory / filename
    path.write_text("\n".join(lines) + "\n")
    return path


def free_udp_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct UDP ports on ``host``, all held until the last one is chosen."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
