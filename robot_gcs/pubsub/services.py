"""Services: request/reply between nodes, over private messages, with a timeout.

What it owns: service types, the request/reply frame, the servers and clients a Node
hands out (``Node.create_service`` / ``Node.create_client``, rclpy's shape) and the table
of calls waiting for a reply. The Node composes one ``ServiceTable`` and reaches it only
through ``on_message``/``expire``/``on_departures``; the table reaches the Node through
``ServiceOwner``.

A service type is a class with two message dataclasses, ``Request`` and ``Response``
(rclpy's ``AddTwoInts.Request``)::

    class Reset:
        @dataclass(frozen=True)
        class Request:
            x: float
        @dataclass(frozen=True)
        class Response:
            previous_x: float

Rules:

* A server announces its service in the registry (pubsub/registry.py) with the request
  type's fingerprint. A client picks a server from the registry: one on its own daemon if
  there is one, else the first by name. No server in the view is ``ServiceUnavailable``
  at once (after the registry is complete), never a silent timeout. Client and server
  types must match (name, fields, field types): a mismatch is a ``ServiceError`` naming
  both, before anything is sent.
* A request is a private message (AGREED, ``SERVICE_MSG_TYPE``) to the server's private
  name; the server's handler ``handler(request) -> Response`` runs among the node's
  callbacks, in delivery order, and its answer goes back the same way. An exception in
  the handler is answered as a failure (``ServiceError`` at the client, with the server's
  message) and logged by the server; it does not stop the server's node.
* A call ends with the reply, with ``ServiceTimeout`` after its timeout, or with
  ``ServiceUnavailable`` as soon as the registry view shows that its server left.
* ``Client.call()`` waits for the reply by reading the node's session itself (other events
  are queued for the node's callbacks, none run meanwhile); ``call_async()`` returns a
  ``ServiceFuture`` that spinning completes.

Frame (network byte order): magic u8 'S' | kind u8 (1 request, 2 reply) | status u8 |
call id u32 | fingerprint u64 (request type on requests, response type on replies) |
name length u16 | service name | body (the message; UTF-8 text when status is not OK).
Frames that do not parse are counted by the node and dropped.

Owner: the node's spinning thread.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..errors import GcsError, LocalProtocolError, MalformedPacket
from .codec import MessageCodec, RawCodec, codec_for, type_path
from .registry import Departure, Registry

log = logging.getLogger(__name__)

SERVICE_MSG_TYPE = 86
_FRAME = struct.Struct("!BBBIQH")
_MAGIC = 0x53
REQUEST, REPLY = 1, 2
OK, FAILED, NO_SERVICE, WRONG_TYPE = 0, 1, 2, 3
DEFAULT_TIMEOUT = 5.0
REGISTRY_WAIT = 2.0        # longest wait for the registry to name a server


class ServiceError(GcsError):
    """A service call failed: the server's handler raised (its message is here), or the
    client's and the server's types differ."""


class ServiceUnavailable(ServiceError):
    """No server of the service is in the view, or the server left before replying.
    Start the server (or wait for it: ``Client.wait_for_service``)."""


class ServiceTimeout(ServiceError):
    """No reply within the call's timeout: the server is slow, blocked, or not spinning."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: int
    status: int
    call_id: int
    fingerprint: int
    name: str
    body: bytes


def encode_frame(f: Frame) -> bytes:
    name = f.name.encode()
    return _FRAME.pack(_MAGIC, f.kind, f.status, f.call_id, f.fingerprint, len(name)) + name + f.body


def decode_frame(data: bytes) -> Frame:
    if len(data) < _FRAME.size:
        raise MalformedPacket("service_truncated", f"{len(data)} bytes")
    magic, kind, status, call_id, fp, n = _FRAME.unpack_from(data, 0)
    if magic != _MAGIC or kind not in (REQUEST, REPLY) or len(data) < _FRAME.size + n:
        raise MalformedPacket("service_frame", f"magic 0x{magic:02x} kind {kind}")
    try:
        name = data[_FRAME.size:_FRAME.size + n].decode()
    except UnicodeDecodeError:
        raise MalformedPacket("service_frame", "service name is not UTF-8") from None
    return Frame(kind, status, call_id, fp, name, bytes(data[_FRAME.size + n:]))


def service_codecs(srv_type: Any) -> tuple[MessageCodec | RawCodec, MessageCodec | RawCodec]:
    """(request codec, response codec) of a service type; LocalProtocolError if it is not one."""
    req, rep = getattr(srv_type, "Request", None), getattr(srv_type, "Response", None)
    if not isinstance(req, type) or not isinstance(rep, type):
        raise LocalProtocolError(f"{srv_type!r} is not a service type: it needs message "
                                 "dataclasses Request and Response")
    return codec_for(req), codec_for(rep)


def check_service_name(name: str) -> str:
    from .qos import check_topic
    try:
        return check_topic(name)
    except LocalProtocolError:
        raise LocalProtocolError(f"bad service name {name!r}: use '/name' segments of "
                                 "letters, digits and '_'") from None


class ServiceOwner(Protocol):
    """What the service table needs of its Node."""

    @property
    def name(self) -> str: ...

    @property
    def private_name(self) -> str: ...

    @property
    def registry(self) -> Registry: ...

    def _send_private(self, target: str, data: bytes) -> None: ...

    def _queue_call(self, fn: Callable[[], Any]) -> None: ...

    def _wait_until(self, done: Callable[[], bool], timeout: float) -> bool: ...

    def _announce(self) -> None: ...

    def _now(self) -> float: ...


class ServiceFuture:
    """The pending result of ``Client.call_async``: completed while the node spins."""

    def __init__(self) -> None:
        self._done = False
        self._result: Any = None
        self._error: ServiceError | None = None
        self._callbacks: list[Callable[["ServiceFuture"], Any]] = []

    def done(self) -> bool:
        return self._done

    def result(self) -> Any:
        """The Response; raises the call's ``ServiceError`` (LocalProtocolError if not done)."""
        if not self._done:
            raise LocalProtocolError("the call has not finished (spin the node, or use call())")
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self) -> ServiceError | None:
        return self._error

    def add_done_callback(self, cb: Callable[["ServiceFuture"], Any]) -> None:
        if self._done:
            cb(self)
        else:
            self._callbacks.append(cb)

    def _finish(self, result: Any = None, error: ServiceError | None = None) -> None:
        if self._done:
            return
        self._done, self._result, self._error = True, result, error
        for cb in self._callbacks:
            cb(self)


@dataclass(slots=True)
class _Pending:
    future: ServiceFuture
    server: str
    service: str
    rep: MessageCodec | RawCodec
    deadline: float


class ServiceServer:
    """Answers one service. Create with ``Node.create_service``; ``destroy()`` stops it."""

    def __init__(self, table: "ServiceTable", name: str, srv_type: Any,
                 handler: Callable[[Any], Any], announced: bool = True) -> None:
        self.table = table
        self.name = name
        self.srv_type = srv_type
        self.req, self.rep = service_codecs(srv_type)
        self.handler = handler
        self.announced = announced
        self.calls = 0
        self.failures = 0

    def destroy(self) -> None:
        self.table.remove_server(self)


class Client:
    """Calls one service. Create with ``Node.create_client``."""

    def __init__(self, table: "ServiceTable", name: str, srv_type: Any) -> None:
        self.table = table
        self.name = name
        self.srv_type = srv_type
        self.req, self.rep = service_codecs(srv_type)

    def service_is_ready(self) -> bool:
        """A server of this service is in the registry view now."""
        return bool(self.table.owner.registry.servers(self.name))

    def wait_for_service(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Wait (reading the node's session) until a server is in the view; False on timeout."""
        return self.table.owner._wait_until(self.service_is_ready, timeout)

    def call_async(self, request: Any, timeout: float = DEFAULT_TIMEOUT,
                   server: str | None = None) -> ServiceFuture:
        """Send ``request``; the future completes while the node spins. ``server``: a
        private name to call (default: chosen from the registry)."""
        return self.table.send(self, request, timeout, server)

    def call(self, request: Any, timeout: float = DEFAULT_TIMEOUT, server: str | None = None) -> Any:
        """Send ``request`` and wait for the Response (raises ``ServiceError`` and subclasses)."""
        local = self.table.local_server(self, server)
        if local is not None:                 # this node serves it: no message to itself
            return self.table.run_handler(local, request)
        fut = self.call_async(request, timeout, server)
        if not self.table.owner._wait_until(fut.done, timeout):
            self.table.give_up(fut, f"no reply to {self.name} within {timeout} s")
        return fut.result()

    def destroy(self) -> None:
        """Nothing is held per client; kept for rclpy's shape."""


class ServiceTable:
    """A node's servers and its calls waiting for replies."""

    def __init__(self, owner: ServiceOwner) -> None:
        self.owner = owner
        self.servers: dict[str, ServiceServer] = {}
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0
        self.bad_frames = 0

    # ------------------------------------------------------------ servers

    def add_server(self, name: str, srv_type: Any, handler: Callable[[Any], Any],
                   announced: bool = True) -> ServiceServer:
        if name in self.servers:
            raise LocalProtocolError(f"node {self.owner.name} already serves {name}")
        srv = ServiceServer(self, name, srv_type, handler, announced)
        self.servers[name] = srv
        if announced:
            self.owner._announce()
        return srv

    def remove_server(self, srv: ServiceServer) -> None:
        if self.servers.get(srv.name) is srv:
            del self.servers[srv.name]
            if srv.announced:
                self.owner._announce()

    def announced(self) -> list[ServiceServer]:
        return [s for s in self.servers.values() if s.announced]

    def local_server(self, client: Client, server: str | None) -> ServiceServer | None:
        if server not in (None, self.owner.private_name):
            return None
        srv = self.servers.get(client.name)
        if srv is None or srv.req.fingerprint != client.req.fingerprint:
            return None
        return srv

    def run_handler(self, srv: ServiceServer, request: Any) -> Any:
        """Run a handler and check its answer; ``ServiceError`` if it raised or answered
        something other than its Response type."""
        srv.calls += 1
        try:
            response = srv.handler(request)
            srv.rep.encode(response)          # the right type, encodable
        except Exception as exc:
            srv.failures += 1
            log.error("node %s: service %s failed: %s: %s", self.owner.name, srv.name,
                      type(exc).__name__, exc)
            raise ServiceError(f"{srv.name} on {self.owner.private_name} failed: "
                               f"{type(exc).__name__}: {exc}") from None
        return response

    # ------------------------------------------------------------ calls

    def _choose(self, client: Client, server: str | None, timeout: float) -> str:
        owner = self.owner
        if server is not None:
            return server
        reg = owner.registry
        owner._wait_until(lambda: bool(reg.servers(client.name)) or reg.complete(),
                          min(timeout, REGISTRY_WAIT))
        found = reg.servers(client.name)
        if not found:
            raise ServiceUnavailable(
                f"no server of {client.name} in the view ({len(reg.members)} nodes in the "
                f"registry, none serves it); start one or call wait_for_service() first")
        mine = owner.private_name.rsplit("#", 1)[-1]
        found.sort(key=lambda me: (me[0].rsplit("#", 1)[-1] != mine, me[0]))
        member, info = found[0]
        if info.fingerprint != client.req.fingerprint:
            raise ServiceError(f"type mismatch on service {client.name}: the client sends "
                               f"{type_path(client.srv_type)} requests but {member} serves "
                               f"{info.type_path}")
        return member

    def send(self, client: Client, request: Any, timeout: float,
             server: str | None) -> ServiceFuture:
        target = self._choose(client, server, timeout)
        body = client.req.encode(request)
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        call_id = self._next_id
        fut = ServiceFuture()
        self._pending[call_id] = _Pending(fut, target, client.name, client.rep,
                                          self.owner._now() + timeout)
        try:
            self.owner._send_private(target, encode_frame(
                Frame(REQUEST, OK, call_id, client.req.fingerprint, client.name, body)))
        except BaseException:
            del self._pending[call_id]
            raise
        return fut

    def give_up(self, fut: ServiceFuture, reason: str) -> None:
        """End a call that waited long enough on real time (its clock may be another)."""
        for cid, p in list(self._pending.items()):
            if p.future is fut:
                del self._pending[cid]
        fut._finish(error=ServiceTimeout(reason))

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self._pending.values()), default=None)

    def expire(self, now: float) -> None:
        for cid, p in list(self._pending.items()):
            if now >= p.deadline:
                del self._pending[cid]
                p.future._finish(error=ServiceTimeout(
                    f"no reply from {p.server} to {p.service} in time"))

    def on_departures(self, departures: tuple[Departure, ...]) -> None:
        gone = {d.member: d.cause for d in departures}
        for cid, p in list(self._pending.items()):
            if p.server in gone:
                del self._pending[cid]
                p.future._finish(error=ServiceUnavailable(
                    f"server {p.server} of {p.service} left the view ({gone[p.server]}) "
                    "before replying"))

    # ------------------------------------------------------------ messages

    def on_message(self, sender: str, payload: bytes) -> None:
        try:
            f = decode_frame(bytes(payload))
        except MalformedPacket as exc:
            self.bad_frames += 1
            log.debug("node %s: dropped a bad service frame from %s: %s", self.owner.name,
                      sender, exc)
            return
        if f.kind == REPLY:
            self._on_reply(sender, f)
            return
        srv = self.servers.get(f.name)
        if srv is None:
            self._reply(sender, f, NO_SERVICE, 0, f"{self.owner.private_name} does not serve {f.name}")
        elif f.fingerprint != srv.req.fingerprint:
            self._reply(sender, f, WRONG_TYPE, 0,
                        f"{self.owner.private_name} serves {f.name} with "
                        f"{type_path(srv.srv_type)}; the request is of another type")
        else:
            self.owner._queue_call(lambda: self._serve(sender, f, srv))

    def _serve(self, sender: str, f: Frame, srv: ServiceServer) -> None:
        try:
            request = srv.req.decode(f.body)
        except MalformedPacket as exc:
            self._reply(sender, f, FAILED, 0, f"undecodable request: {exc}")
            return
        try:
            response = self.run_handler(srv, request)
        except ServiceError as exc:
            self._reply(sender, f, FAILED, 0, str(exc))
            return
        self._reply(sender, f, OK, srv.rep.fingerprint, srv.rep.encode(response))

    def _reply(self, to: str, req: Frame, status: int, fp: int, body: "bytes | str") -> None:
        data = body.encode() if isinstance(body, str) else body
        try:
            self.owner._send_private(to, encode_frame(Frame(REPLY, status, req.call_id, fp,
                                                            req.name, data)))
        except GcsError as exc:          # the caller went away, or the queue is full
            log.warning("node %s: reply to %s on %s not sent: %s", self.owner.name, to,
                        req.name, exc)

    def _on_reply(self, sender: str, f: Frame) -> None:
        p = self._pending.get(f.call_id)
        if p is None or p.server != sender:
            return                       # timed out already, or not ours
        del self._pending[f.call_id]
        if f.status == OK and f.fingerprint != p.rep.fingerprint:
            p.future._finish(error=ServiceError(
                f"type mismatch on service {p.service}: {sender} answered with another "
                f"response type than {p.rep.cls.__name__}"))
            return
        if f.status == OK:
            try:
                p.future._finish(result=p.rep.decode(f.body))
            except MalformedPacket as exc:
                p.future._finish(error=ServiceError(f"undecodable reply from {sender}: {exc}"))
            return
        text = f.body.decode(errors="replace")
        cls = ServiceUnavailable if f.status == NO_SERVICE else ServiceError
        p.future._finish(error=cls(text))
