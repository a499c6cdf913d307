"""Ring configuration: YAML file -> frozen config values, every error with file:line.

Theory of operation
-------------------
A config file describes ONE ring: its name, an optional key file (packet
authentication), the transport (unicast peer list or IPv4 multicast), protocol timeouts
and the list of daemons (one per processor, the same list on every processor). The shape
is ARCHITECTURE.md "Config shape"; keys added here are marked *extension*::

    ring:
      name: rover1
      key_file: ring.key        # relative paths are relative to the config file
      security: sealed          # extension: or insecure; more in security/config.py
      state_dir: null           # extension: where daemons persist ring seq/incarnation
      transport:
        mode: unicast           # or multicast (+ group, port, interface, ttl)
      timeouts:                 # milliseconds -> ProtocolParams (core/params.py)
        token_ms: 200
        consensus_ms: 240
      protocol: {}              # extension: integer ProtocolParams fields by name
                                #   (window_size, max_messages, send_queue_bytes, ...)
      runtime:                  # extension: session_queue, send_queue, switch_interval_ms,
                                #   inline_commands, inline_receive, reply_window_us
      diagnostics:              # extension: period_ms (health snapshots while a console
        period_ms: 1000         #   listens; 50..60000)
    daemons:
      - name: cpu1
        address: 127.0.0.1:48101
        socket: /tmp/robot_gcs/cpu1.sock    # or unix:/path, tcp:host:port; optional
        tcp: 127.0.0.1:48201                # extension: a second client address; optional

Rules:

* The document is composed with ``yaml.compose`` so each node keeps its line; every
  error is a ``ConfigError(problem, path, line, field)`` with a dotted field name
  (``daemons[1].address``). Unknown keys are errors (typos must not be ignored), and so
  is a key given twice in one mapping; numbers must be finite (no ``.nan``/``.inf``).
* Node ids are the 1-based index in the ``daemons`` list (identical lists give identical
  ids). ``cluster_id`` is a stable 32-bit blake2b hash of the ring name and the daemon
  list, so two rings with different names (or different daemon lists) ignore each
  other's packets (PROTOCOL.md 1.1 "Filtering").
* Timeouts: when ``token_ms`` is given without ``consensus_ms`` the consensus timeout
  defaults to 1.2 x token (corosync's rule), and a short token without ``token_hold_ms``
  holds at most half of (token - token retransmit interval); contradictions given
  explicitly (consensus <= token, hold + retransmit >= token, 2 x hold + retransmit / 4
  >= token ...) are rejected with the line of the offending key.
* Interface names in the multicast section are resolved only when a daemon starts
  (runtime/transport.py), so a config can be validated on another machine.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass, fields
from typing import Any

import yaml

from .core.params import EngineConfig, ProtocolParams
from .core.types import NodeId
from .errors import ConfigError, LocalProtocolError
from .security.config import SECURITY_KEYS, ring_security

# timeouts key -> ProtocolParams field (float seconds)
TIMEOUT_KEYS: dict[str, str] = {
    "token_ms": "token_timeout",
    "consensus_ms": "consensus_timeout",
    "join_ms": "join_timeout",
    "merge_ms": "merge_interval",
    "token_hold_ms": "token_hold",
    "send_queue_delay_ms": "send_queue_delay",
}
# ring.protocol takes the integer fields by name; a field in seconds is given in
# milliseconds under ring.timeouts (above) or ring.runtime (reply_window_us), never as a
# bare number whose unit a reader would have to guess
PROTOCOL_KEYS: tuple[str, ...] = tuple(
    f.name for f in fields(ProtocolParams)
    if type(f.default) is int)

RUNTIME_DEFAULTS: dict[str, Any] = {
    "session_queue": 10000,       # events buffered per in-process session before detach
    "send_queue": 1000,           # multicasts a client may have waiting for the daemon thread
    "switch_interval_ms": None,   # sys.setswitchinterval for the host process (None: leave it)
    "inline_commands": True,      # caller-runs: a client thread feeds the engine when it is idle
    "reply_window_us": 300,       # hold a token this long for a local reply (0: never)
    "inline_receive": True,       # a session blocked in receive() reads the ring sockets itself
}


@dataclass(frozen=True, slots=True)
class TransportConfig:
    mode: str = "unicast"             # "unicast" | "multicast"
    group: str | None = None          # multicast group (IPv4)
    port: int | None = None           # multicast port
    interface: str | None = None      # interface name or IPv4 address (multicast only)
    ttl: int = 1


@dataclass(frozen=True, slots=True)
class DaemonEntry:
    name: str
    node_id: NodeId
    host: str
    port: int
    socket: str | None = None         # client address "unix:/path" or "tcp:host:port"
    line: int | None = None
    tcp: str | None = None            # optional second client address "tcp:host:port"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    session_queue: int = 10000
    send_queue: int = 1000
    switch_interval_ms: float | None = None
    inline_commands: bool = True
    reply_window_us: int = 300
    inline_receive: bool = True


@dataclass(frozen=True, slots=True)
class RingConfig:
    name: str
    transport: TransportConfig
    params: ProtocolParams
    runtime: RuntimeConfig
    key: bytes | None = None
    key_file: str | None = None
    state_dir: str | None = None
    diagnostics_period_ms: float = 1000.0   # health snapshot period while a console listens
    security: str = "sealed"                # "sealed" (needs a key) | "insecure" (explicit)
    accept_keys: tuple[bytes, ...] = ()     # key rollover: further keys accepted on receipt
    client_token: bytes | None = None       # what TCP clients must prove (session_auth.py)
    socket_group: str | None = None         # Unix session sockets 0660 for this group

    @property
    def insecure(self) -> bool:
        return self.security == "insecure"


@dataclass(frozen=True, slots=True)
class GcsConfig:
    """One ring's configuration, as loaded from a file (or built in code)."""

    ring: RingConfig
    daemons: tuple[DaemonEntry, ...]
    path: str | None = None

    @property
    def cluster_id(self) -> int:
        return cluster_id_of(self.ring.name, self.daemons)

    def daemon(self, name: str) -> DaemonEntry:
        for d in self.daemons:
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.daemons)
        raise ConfigError(f"no daemon named {name!r} (known: {known})", self.path, None,
                          "daemons")

    def names(self) -> dict[int, str]:
        """node id -> daemon name."""
        return {int(d.node_id): d.name for d in self.daemons}

    def engine_config(self) -> EngineConfig:
        # ring packets are sealed by the runtime (security/sealer.py), not MACed by the core
        return EngineConfig(peers=tuple(d.node_id for d in self.daemons),
                            cluster_id=self.cluster_id, key=None,
                            params=self.ring.params, auto_open_lane=False)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "GcsConfig":
        return load_config(path)


def cluster_id_of(ring_name: str, daemons: tuple[DaemonEntry, ...]) -> int:
    """Stable 32-bit id of (ring name, daemon list); never 0."""
    h = hashlib.blake2b(digest_size=4, person=b"robot_gcs")
    h.update(ring_name.encode())
    for d in daemons:
        h.update(f"\n{d.node_id}:{d.name}@{d.host}:{d.port}".encode())
    return int.from_bytes(h.digest(), "big") or 1


def normalize_client_address(text: str) -> str:
    """``/p`` or ``unix:/p`` -> ``unix:/p``; ``tcp:host:port`` kept. Raises ValueError."""
    if text.startswith("tcp:"):
        host, sep, port = text[4:].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("tcp address must be tcp:host:port")
        return text
    path = text[5:] if text.startswith("unix:") else text
    if not path:
        raise ValueError("empty socket path")
    return "unix:" + path


# --------------------------------------------------------------------------- loading


_MAX_NODES = 100_000
_TOO_DEEP = "YAML nested too deeply, or an alias refers to itself"


class _Doc:
    """A composed YAML document: plain values plus the line of every node by field path."""

    def __init__(self, text: str, path: str | None) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        try:
            loader = yaml.SafeLoader(text)
            try:
                node = loader.get_single_node()
                self.value: Any = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = mark.line + 1 if mark is not None else None
            raise ConfigError(f"not valid YAML: {exc.problem}", path, line) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", path) from None
        except RecursionError:
            raise ConfigError(_TOO_DEEP, path) from None
        self._budget = _MAX_NODES        # aliases can make a small text a huge tree
        if node is not None:
            try:
                self._index(node, "")
            except RecursionError:
                raise ConfigError(_TOO_DEEP, path) from None

    def _index(self, node: yaml.Node, field: str) -> None:
        self._budget -= 1
        if self._budget < 0:
            raise ConfigError(f"more than {_MAX_NODES} YAML values (aliases?)", self.path)
        self.lines[field] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                name = f"{field}.{k.value}" if field else str(k.value)
                if name + "#key" in self.lines:       # YAML would keep the last one silently
                    raise ConfigError(f"duplicate key {k.value!r} (first on line "
                                      f"{self.lines[name + '#key']})", self.path,
                                      k.start_mark.line + 1, name)
                self.lines[name + "#key"] = k.start_mark.line + 1
                self._index(v, name)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._index(v, f"{field}[{i}]")

    def error(self, field: str, problem: str) -> ConfigError:
        line = self.lines.get(field + "#key", self.lines.get(field))
        probe = field
        while line is None and probe:
            probe = probe.rpartition(".")[0] if "." in probe else ""
            line = self.lines.get(probe)
        return ConfigError(problem, self.path, line, field or None)


def _mapping(doc: _Doc, value: Any, field: str, allowed: tuple[str, ...],
             required: tuple[str, ...] = ()) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise doc.error(field, f"must be a mapping, got {type(value).__name__}")
    for k in sorted(value, key=str):
        if k not in allowed:
            sub = f"{field}.{k}" if field else str(k)
            raise doc.error(sub, f"unknown key {k!r} (allowed: {', '.join(allowed)})")
    for k in required:
        if value.get(k) is None:
            raise doc.error(field, f"missing required key {k!r}")
    return value


def _str(doc: _Doc, value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise doc.error(field, f"must be a non-empty string, got {value!r}")
    return value


def _int(doc: _Doc, value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise doc.error(field, f"must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _number(doc: _Doc, value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < float("inf"):       # NaN fails every comparison
        raise doc.error(field, f"must be a positive finite number, got {value!r}")
    return float(value)


def _host_port(doc: _Doc, value: Any, field: str) -> tuple[str, int]:
    text = _str(doc, value, field)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise doc.error(field, f"must be host:port, got {text!r}")
    p = int(port)
    if not 0 < p < 65536:
        raise doc.error(field, f"port must be in 1..65535, got {p}")
    return host, p


def _transport(doc: _Doc, value: Any) -> TransportConfig:
    f = "ring.transport"
    t = _mapping(doc, value, f, ("mode", "group", "port", "interface", "ttl"))
    mode = t.get("mode", "unicast")
    if mode not in ("unicast", "multicast"):
        raise doc.error(f + ".mode", f"must be 'unicast' or 'multicast', got {mode!r}")
    if mode == "unicast":
        for k in ("group", "port", "interface"):
            if t.get(k) is not None:
                raise doc.error(f"{f}.{k}", "only meaningful with mode: multicast")
        return TransportConfig()
    group = _str(doc, t.get("group"), f + ".group")
    try:
        ip = ipaddress.IPv4Address(group)
    except ValueError:
        raise doc.error(f + ".group", f"not an IPv4 address: {group!r}") from None
    if not ip.is_multicast:
        raise doc.error(f + ".group", f"{group} is not a multicast address (224.0.0.0/4)")
    port = _int(doc, t.get("port"), f + ".port", 1, 65535)
    iface = t.get("interface")
    if iface is not None:
        iface = _str(doc, iface, f + ".interface")
    ttl = _int(doc, t.get("ttl", 1), f + ".ttl", 0, 255)
    return TransportConfig("multicast", group, port, iface, ttl)


def _params(doc: _Doc, timeouts: Any, protocol: Any, runtime: RuntimeConfig) -> ProtocolParams:
    tm = _mapping(doc, timeouts, "ring.timeouts", tuple(TIMEOUT_KEYS))
    pm = _mapping(doc, protocol, "ring.protocol", PROTOCOL_KEYS)
    # the reply window is protocol timing (core/reply_window.py), set in ring.runtime
    kw: dict[str, Any] = {"reply_window": runtime.reply_window_us / 1e6}
    field_of: dict[str, str] = {"reply_window": "ring.runtime.reply_window_us"}
    for key in sorted(tm):
        kw[TIMEOUT_KEYS[key]] = _number(doc, tm[key], f"ring.timeouts.{key}") / 1000.0
        field_of[TIMEOUT_KEYS[key]] = f"ring.timeouts.{key}"
    if "token_timeout" in kw and "consensus_timeout" not in kw:
        kw["consensus_timeout"] = 1.2 * kw["token_timeout"]
    if "token_timeout" in kw and "token_hold" not in kw:
        d = ProtocolParams()
        retransmit = kw["token_timeout"] / (kw.get("token_retransmits", d.token_retransmits) + 0.2)
        room = kw["token_timeout"] - retransmit   # a kept token + one retransmission
        if d.token_hold >= room / 2:            # short token: hold half of that room
            kw["token_hold"] = room / 2
    for key in sorted(pm):
        kw[key] = _int(doc, pm[key], f"ring.protocol.{key}", 1, 2 ** 31)
        field_of[key] = f"ring.protocol.{key}"
    try:
        return ProtocolParams(**kw)
    except LocalProtocolError:
        probe = ProtocolParams.__new__(ProtocolParams)
        for fl in fields(ProtocolParams):
            object.__setattr__(probe, fl.name, kw.get(fl.name, fl.default))
        problems = probe.problems()
        first = problems[0] if problems else "invalid protocol parameters"
        name = first.split(" ", 1)[0]
        where = field_of.get(name) or next(
            (fv for fk, fv in sorted(field_of.items()) if fk in first), "ring.timeouts")
        raise doc.error(where, "; ".join(problems)) from None


def _runtime(doc: _Doc, value: Any) -> RuntimeConfig:
    f = "ring.runtime"
    r = _mapping(doc, value, f, tuple(RUNTIME_DEFAULTS))
    sq = _int(doc, r.get("session_queue", RUNTIME_DEFAULTS["session_queue"]),
              f + ".session_queue", 1, 10_000_000)
    snd = _int(doc, r.get("send_queue", RUNTIME_DEFAULTS["send_queue"]),
               f + ".send_queue", 1, 10_000_000)
    sw = r.get("switch_interval_ms")
    if sw is not None:
        sw = _number(doc, sw, f + ".switch_interval_ms")
    inline, receive = (_flag(doc, r, f, key) for key in ("inline_commands", "inline_receive"))
    window = _int(doc, r.get("reply_window_us", RUNTIME_DEFAULTS["reply_window_us"]),
                  f + ".reply_window_us", 0, 100_000)
    return RuntimeConfig(sq, snd, sw, inline, window, receive)


def _flag(doc: _Doc, r: dict[str, Any], f: str, key: str) -> bool:
    value = r.get(key, RUNTIME_DEFAULTS[key])
    if not isinstance(value, bool):
        raise doc.error(f"{f}.{key}", f"must be true or false, got {value!r}")
    return value


def _daemons(doc: _Doc, value: Any) -> tuple[DaemonEntry, ...]:
    if not isinstance(value, list) or not value:
        raise doc.error("daemons", "must be a non-empty list of daemons")
    if len(value) > 32:
        raise doc.error("daemons", f"at most 32 daemons per ring, got {len(value)}")
    out: list[DaemonEntry] = []
    seen_name: dict[str, int] = {}
    seen_addr: dict[tuple[str, int], int] = {}
    seen_sock: dict[str, int] = {}
    for i, item in enumerate(value):
        f = f"daemons[{i}]"
        d = _mapping(doc, item, f, ("name", "address", "socket", "tcp"), ("name", "address"))
        name = _str(doc, d["name"], f + ".name")
        if name.startswith("#") or len(name.encode()) > 32:
            raise doc.error(f + ".name", "must not start with '#' and be at most 32 bytes")
        if name in seen_name:
            raise doc.error(f + ".name", f"duplicate daemon name {name!r} "
                            f"(also daemons[{seen_name[name]}])")
        seen_name[name] = i
        host, port = _host_port(doc, d["address"], f + ".address")
        if host in ("0.0.0.0", "*", "::"):
            raise doc.error(f + ".address", "must be the address peers send to, not a "
                            "wildcard (every daemon sends tokens to it)")
        if (host, port) in seen_addr:
            raise doc.error(f + ".address", f"duplicate address {host}:{port} "
                            f"(also daemons[{seen_addr[(host, port)]}])")
        seen_addr[(host, port)] = i
        sock = d.get("socket")
        if sock is not None:
            try:
                sock = normalize_client_address(_str(doc, sock, f + ".socket"))
            except ValueError as exc:
                raise doc.error(f + ".socket", str(exc)) from None
            if sock in seen_sock:
                raise doc.error(f + ".socket", f"duplicate socket {sock} "
                                f"(also daemons[{seen_sock[sock]}])")
            seen_sock[sock] = i
        tcp = d.get("tcp")
        if tcp is not None:
            th, tp = _host_port(doc, tcp[4:] if isinstance(tcp, str) and tcp.startswith("tcp:")
                                else tcp, f + ".tcp")
            tcp = f"tcp:{th}:{tp}"
            if tcp in seen_sock:
                raise doc.error(f + ".tcp", f"duplicate client address {tcp} "
                                f"(also daemons[{seen_sock[tcp]}])")
            seen_sock[tcp] = i
        out.append(DaemonEntry(name, NodeId(i + 1), host, port, sock,
                               doc.lines.get(f), tcp))
    return tuple(out)


def parse_config(text: str, path: str | None = None) -> GcsConfig:
    """Parse config text; ``path`` is used in error messages and for relative paths."""
    doc = _Doc(text, path)
    top = _mapping(doc, doc.value, "", ("ring", "daemons"), ("ring", "daemons"))
    ring = _mapping(doc, top["ring"], "ring",
                    ("name", "key_file", "state_dir", "transport", "timeouts", "protocol",
                     "runtime", "diagnostics") + SECURITY_KEYS, ("name",))
    name = _str(doc, ring["name"], "ring.name")
    state_dir = ring.get("state_dir")
    if state_dir is not None:
        state_dir = _str(doc, state_dir, "ring.state_dir")
        if not os.path.isabs(state_dir) and path:
            state_dir = os.path.join(os.path.dirname(os.path.abspath(path)), state_dir)
    transport = _transport(doc, ring.get("transport"))
    runtime = _runtime(doc, ring.get("runtime"))
    params = _params(doc, ring.get("timeouts"), ring.get("protocol"), runtime)
    diag = _mapping(doc, ring.get("diagnostics"), "ring.diagnostics", ("period_ms",))
    period = diag.get("period_ms", 1000)
    if isinstance(period, bool) or not isinstance(period, (int, float)) \
            or not 50 <= period <= 60000:
        raise doc.error("ring.diagnostics.period_ms",
                        f"must be a number of milliseconds in [50, 60000], got {period!r}")
    daemons = _daemons(doc, top["daemons"])
    if transport.mode == "multicast":
        for i, d in enumerate(daemons):
            if d.port == transport.port:
                raise doc.error(f"daemons[{i}].address",
                                f"port {d.port} is the multicast port; use another")
    sec = ring_security(ring, [d.host for d in daemons], path, doc.error)
    rc = RingConfig(name, transport, params, runtime, sec.key, sec.key_file, state_dir,
                    float(period), sec.security, sec.accept_keys, sec.client_token,
                    sec.socket_group)
    return GcsConfig(rc, daemons, path)


def load_config(path: str | os.PathLike[str]) -> GcsConfig:
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", p) from None
    return parse_config(text, p)
