"""Helpers for testing programs built on robot_gcs (shipped, like trio's testing tools).

``free_udp_ports(n)`` picks n distinct UDP ports on 127.0.0.1 that were free a moment ago,
for rings started by tests and benchmarks. The ports are released before they are returned,
so another program could take one in between; bind-to-zero is not possible for a ring whose
config must name every daemon's port in advance.
"""

from __future__ import annotations

import socket

__all__ = ["free_udp_ports"]


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
