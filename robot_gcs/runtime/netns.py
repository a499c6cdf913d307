"""A private network namespace with nftables drop rules: real sockets under real loss.

Theory of operation
-------------------
``Netns`` creates a namespace whose only interface is its own loopback (nothing inside
reaches the machine's network, and nothing outside sees it), brings ``lo`` up, and keeps
one nftables table ``gcs`` there whose input chain drops what its rules match, each rule
with a counter. A command runs inside with ``prefix`` (``ip netns exec NAME``) prepended.
Delay and reordering are the simulator's business (no ``tc netem`` on the machines this
was built on); dropping at random (``numgen random mod 100 < 1``) or by port (partitions)
is what nftables does here.

``robot-gcs bench --loss PCT`` re-runs itself inside one (runtime/bench.py), the
real-socket fault tests use it directly. Needs root, ``ip`` (iproute2) and ``nft``
(nftables): ``missing()`` says which is absent.

Owner: the ``Netns`` object's creator, which must ``delete()`` it (it is a context
manager); the kernel serialises the namespace itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from types import TracebackType

__all__ = ["Netns", "NetnsError", "missing", "random_drop_rule"]


class NetnsError(RuntimeError):
    """An ``ip``/``nft`` command failed (its stderr is the message)."""


def missing() -> str | None:
    """Why a namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root for ip netns and nft"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (apt install {'iproute2' if tool == 'ip' else 'nftables'})"
    return None


def random_drop_rule(percent: float) -> str:
    """An nftables match for ``percent`` % of the UDP datagrams, at random (0.1 % steps)."""
    per_mille = round(percent * 10)
    if not 0 < per_mille < 1000:
        raise ValueError(f"loss must be between 0.1 and 99.9 %, not {percent}")
    return f"meta l4proto udp numgen random mod 1000 < {per_mille}"


def _run(*cmd: str, stdin: str | None = None) -> str:
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20,
                         check=False)
    if out.returncode:
        raise NetnsError(f"{' '.join(cmd)}: {out.stderr.strip()}")
    return out.stdout


class Netns:
    """A namespace with only loopback up, and an nftables table ``gcs`` inside it."""

    def __init__(self, tag: str = "gcs") -> None:
        self.name = f"{tag}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        _run("ip", "netns", "add", self.name)
        try:
            _run("ip", "-n", self.name, "link", "set", "lo", "up")
            self.set_rules([])
        except Exception:
            self.delete()
            raise

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.delete()

    @property
    def prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.name)

    def set_rules(self, rules: list[str]) -> None:
        """Replace the input chain's rules (each drops what it matches, with a counter)."""
        body = "\n".join(f"    {r} counter drop" for r in rules)
        _run(*self.prefix, "nft", "-f", "-",
             stdin="table inet gcs\ndelete table inet gcs\n"
                   "table inet gcs {\n  chain input {\n"
                   "    type filter hook input priority 0; policy accept;\n"
                   f"{body}\n  }}\n}}\n")

    def dropped(self) -> int:
        """Datagrams the rules dropped so far."""
        return dropped_here(self.prefix)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=20,
                       check=False)


def dropped_here(prefix: tuple[str, ...] = ()) -> int:
    """What the ``gcs`` table's rules dropped, in the namespace ``prefix`` runs in (the
    current one by default: a process started inside reads its own)."""
    text = _run(*prefix, "nft", "list", "table", "inet", "gcs")
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", text))
