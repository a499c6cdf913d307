"""UDP transport for one daemon: unicast peer list or IPv4 multicast (PROTOCOL.md 1.1).

Theory of operation
-------------------
* Every daemon binds one UDP socket to its configured ``address`` (host:port). Tokens,
  commit tokens and any ``Send(node_id)`` go unicast from it to the peer's address.
* Unicast mode: a broadcast is one datagram per destination node id (the daemon passes
  ``engine.ring_targets`` for BROADCAST_RING and every other peer for BROADCAST_ALL).
* Multicast mode: a broadcast is one datagram to ``group:port``, sent from the unicast
  socket (``IP_MULTICAST_IF`` = the resolved interface, loop on so daemons on one host
  hear each other; the engine drops its own looped-back packets). A second socket bound
  to ``group:port`` (SO_REUSEADDR) receives the group's traffic.
* ``interface`` may be an interface name (resolved with netifaces to its first IPv4
  address) or an IPv4 address; missing means "let the kernel choose".
* Sockets are non-blocking. ``receive(max_batch)`` drains up to ``max_batch``
  datagrams per readable socket, so a flood cannot starve timers. Socket errors on send
  or receive (ICMP unreachable, ENOBUFS...) are counted, never raised: a dead peer is
  the membership protocol's business.
* Sealing (security/sealer.py): when the daemon installs a ``sealer``, every datagram
  sent is sealed (once per broadcast, whatever the number of destinations) and every
  datagram received is opened before anyone sees it; what does not open is dropped and
  counted in ``errors`` under the sealer's reason (``seal_bad_tag``, ``seal_replay``,
  ``unsealed`` ...), which the daemon's statistics report as dropped packets. Without a
  sealer (``security: insecure``) datagrams pass as they are.
* The transport does not parse ring packets; filtering them is the engine's.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import struct
from collections import Counter
from typing import Iterable, Protocol

import netifaces  # type: ignore[import-untyped,import-not-found,unused-ignore]

from ..config import DaemonEntry, GcsConfig
from ..errors import ConfigError, MalformedPacket

log = logging.getLogger(__name__)

RCVBUF = 4 * 1024 * 1024
MAX_DATAGRAM = 65535

Addr = tuple[str, int]


class PacketSealer(Protocol):
    """security/sealer.py ``Sealer`` as the transport uses it."""

    def seal(self, packet: bytes, dest: int = 0) -> bytes: ...

    def open(self, data: bytes) -> bytes | None: ...


def resolve_interface(interface: str | None) -> str | None:
    """Interface name or IPv4 address -> IPv4 address string (None stays None)."""
    if interface is None:
        return None
    try:
        ipaddress.IPv4Address(interface)
        return interface
    except ValueError:
        pass
    if interface not in netifaces.interfaces():
        raise ConfigError(f"no network interface named {interface!r} on this machine "
                          f"(have: {', '.join(sorted(netifaces.interfaces()))})",
                          field="ring.transport.interface")
    addrs = netifaces.ifaddresses(interface).get(netifaces.AF_INET) or []
    if not addrs:
        raise ConfigError(f"interface {interface!r} has no IPv4 address",
                          field="ring.transport.interface")
    return str(addrs[0]["addr"])


def _resolve(host: str, port: int) -> Addr:
    try:
        info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve {host!r}: {exc}", field="daemons.address") from None
    return (str(info[0][4][0]), int(info[0][4][1]))


class UdpTransport:
    """The daemon's UDP sockets. ``open()`` binds; the rest is run by the engine lock
    holder (runtime/README.md)."""

    def __init__(self, config: GcsConfig, me: DaemonEntry) -> None:
        self.config = config
        self.me = me
        self.mode = config.ring.transport.mode
        self.peers: dict[int, Addr] = {}
        self.sock: socket.socket | None = None
        self.mcast_sock: socket.socket | None = None
        self._group: Addr | None = None
        self.sent_packets = 0
        self.sent_bytes = 0
        self.recv_packets = 0
        self.recv_bytes = 0
        self.errors: Counter[str] = Counter()
        self.sealer: PacketSealer | None = None     # installed by the daemon at start
        self.own_loopback = 0                       # my own sealed datagrams heard back

    # ------------------------------------------------------------ set-up

    def open(self) -> None:
        """Resolve peers and bind the socket(s). Raises ConfigError / OSError."""
        for d in self.config.daemons:
            self.peers[int(d.node_id)] = _resolve(d.host, d.port)
        bind = self.peers[int(self.me.node_id)]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RCVBUF)
            s.bind(bind)
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        self.sock = s
        if self.mode == "multicast":
            try:
                self._open_multicast()
            except OSError:
                self.close()
                raise

    def _open_multicast(self) -> None:
        t = self.config.ring.transport
        assert t.group is not None and t.port is not None and self.sock is not None
        iface = resolve_interface(t.interface)
        iface_ip = iface or "0.0.0.0"
        self._group = (t.group, t.port)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, t.ttl)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        if iface is not None:
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                 socket.inet_aton(iface))
        m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            m.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                m.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            m.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            m.bind((t.group, t.port))
            mreq = struct.pack("4s4s", socket.inet_aton(t.group), socket.inet_aton(iface_ip))
            m.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            m.setblocking(False)
        except OSError:
            m.close()
            raise
        self.mcast_sock = m

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.sock, self.mcast_sock) if s is not None]

    @property
    def bound_address(self) -> Addr:
        assert self.sock is not None
        host, port = self.sock.getsockname()[:2]
        return (str(host), int(port))

    def close(self) -> None:
        for s in self.sockets():
            try:
                s.close()
            except OSError:
                pass
        self.sock = None
        self.mcast_sock = None

    # ------------------------------------------------------------ sending

    def _sendto(self, data: bytes, addr: Addr) -> None:
        assert self.sock is not None
        try:
            self.sock.sendto(data, addr)
            self.sent_packets += 1
            self.sent_bytes += len(data)
        except BlockingIOError:
            self.errors["send_would_block"] += 1
        except OSError as exc:
            self.errors["send_" + (errno.errorcode.get(exc.errno or 0, "error")).lower()] += 1

    def send_to(self, node_id: int, data: bytes) -> None:
        addr = self.peers.get(node_id)
        if addr is None:
            self.errors["send_unknown_node"] += 1
            return
        sealer = self.sealer
        self._sendto(data if sealer is None else sealer.seal(data, node_id), addr)

    def broadcast(self, data: bytes, node_ids: Iterable[int]) -> None:
        """One datagram to the group (multicast) or one per listed node (unicast)."""
        sealer = self.sealer
        if sealer is not None:
            data = sealer.seal(data)
        if self._group is not None:
            self._sendto(data, self._group)
            return
        me = int(self.me.node_id)
        peers = self.peers
        for nid in node_ids:
            if nid != me:
                addr = peers.get(nid)
                if addr is None:
                    self.errors["send_unknown_node"] += 1
                else:
                    self._sendto(data, addr)

    # ------------------------------------------------------------ receiving

    def receive(self, sock: socket.socket, max_batch: int = 64) -> list[tuple[bytes, Addr]]:
        out: list[tuple[bytes, Addr]] = []
        for _ in range(max_batch):
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                break
            except OSError as exc:
                self.errors["recv_" + (errno.errorcode.get(exc.errno or 0, "error")).lower()] += 1
                continue
            self.recv_packets += 1
            self.recv_bytes += len(data)
            if self.sealer is not None:
                try:
                    opened = self.sealer.open(data)
                except MalformedPacket as exc:
                    self.errors[exc.reason] += 1
                    continue
                if opened is None:
                    self.own_loopback += 1
                    continue
                data = opened
            out.append((data, (str(addr[0]), int(addr[1]))))
        return out
