"""Authenticating TCP client sessions: a mutual HMAC challenge-response on a shared token.

Theory of operation
-------------------
A daemon serving sessions on TCP admits only clients that know the ring's *client token*:
the contents of ``ring.client_token_file`` when the config names one (made with
``robot-gcs keygen``, handed to remote clients without giving them the ring key), else a
token derived from the ring key (so tools on a ring computer, which have the config, get in
without more set-up). Unix-socket sessions are guarded by the socket file's mode instead.

Before the framed protocol (client/wire.py) starts, on TCP::

    client -> daemon   "RGA1" | client nonce (32 random bytes)
    daemon -> client   "RGA1" | daemon nonce (32) | HMAC-SHA256(token, "rgcs-daemon-v1" | cn | dn)
    client -> daemon   HMAC-SHA256(token, "rgcs-client-v1" | cn | dn)   then HELLO as usual

Both sides prove the token on fresh nonces (a recorded exchange cannot be replayed; the
two labels stop a reflection), comparisons are constant-time. A client that sends
anything else first (an old client, a client without a token, a port scanner) is refused
with a CLOSED frame whose reason says what is missing. The token never crosses the wire.
After the handshake the session is NOT encrypted: it authenticates who connects, it does
not hide or protect the traffic from someone on the path (README "Security").

``DaemonGate`` is the daemon's sans-IO side, owned by one IPC connection (runtime/ipc.py,
daemon thread only); ``client_handshake`` is the blocking client side (one thread).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
import time

__all__ = ["AUTH_MAGIC", "DaemonGate", "client_handshake", "derived_client_token",
           "token_from_env", "TOKEN_ENV", "AuthRefused"]

AUTH_MAGIC = b"RGA1"
NONCE = 32
PROOF = 32
TOKEN_ENV = "ROBOT_GCS_TOKEN_FILE"

NEED_AUTH = ("authentication required: this daemon admits TCP sessions only from clients "
             "holding the ring's client token (give it with connect(..., token=...) or "
             f"{TOKEN_ENV}=PATH; README \"Security\")")
BAD_AUTH = "authentication failed: wrong client token"


class AuthRefused(Exception):
    """The daemon proved nothing (wrong token on one side)."""


def derived_client_token(ring_key_material: bytes) -> bytes:
    """The client token of a ring that names no ``client_token_file``."""
    return hashlib.blake2b(ring_key_material, digest_size=32,
                           person=b"rgcs-client-tok").digest()


def token_from_env() -> bytes | None:
    """The token in the file ``$ROBOT_GCS_TOKEN_FILE`` names, or None."""
    path = os.environ.get(TOKEN_ENV)
    if not path:
        return None
    from .keys import read_key_file
    return read_key_file(path)


def _proof(token: bytes, label: bytes, cn: bytes, dn: bytes) -> bytes:
    return hmac.new(token, label + cn + dn, hashlib.sha256).digest()


class DaemonGate:
    """The daemon's side of one connection's handshake (sans-IO).

    ``feed(data)`` returns ``(reply, rest, refusal)``: bytes to send, bytes that belong to
    the framed protocol once the client proved itself (None while not yet), and a reason
    to refuse the connection with (None while all is well)."""

    def __init__(self, token: bytes) -> None:
        self._token = token
        self._buf = b""
        self._cn = b""
        self._dn = b""

    def feed(self, data: bytes) -> tuple[bytes, bytes | None, str | None]:
        self._buf += data
        reply = b""
        if not self._cn:
            buf = self._buf
            if buf[:len(AUTH_MAGIC)] != AUTH_MAGIC[:len(buf)]:
                return b"", None, NEED_AUTH
            if len(buf) < len(AUTH_MAGIC) + NONCE:
                return b"", None, None
            self._cn = buf[len(AUTH_MAGIC):len(AUTH_MAGIC) + NONCE]
            self._buf = buf[len(AUTH_MAGIC) + NONCE:]
            self._dn = secrets.token_bytes(NONCE)
            reply = AUTH_MAGIC + self._dn + _proof(self._token, b"rgcs-daemon-v1",
                                                    self._cn, self._dn)
        if len(self._buf) < PROOF:
            return reply, None, None
        got, rest = self._buf[:PROOF], self._buf[PROOF:]
        self._buf = b""
        if not hmac.compare_digest(got, _proof(self._token, b"rgcs-client-v1", self._cn,
                                               self._dn)):
            return reply, None, BAD_AUTH
        return reply, rest, None


def client_handshake(sock: socket.socket, token: bytes, timeout: float) -> bytes:
    """Run the client side on a connected blocking socket.

    Returns b"" when both sides proved the token; otherwise the bytes the daemon sent
    instead (a CLOSED frame saying why: the caller decodes it). Raises ``AuthRefused``
    when the daemon's proof is wrong, ``socket.timeout``/``OSError`` as the socket does."""
    cn = secrets.token_bytes(NONCE)
    sock.sendall(AUTH_MAGIC + cn)
    want = len(AUTH_MAGIC) + NONCE + PROOF
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < want:
        if got and got[:len(AUTH_MAGIC)] != AUTH_MAGIC[:len(got)]:
            return got                           # not a handshake reply: a refusal
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no handshake reply")
        sock.settimeout(left)
        chunk = sock.recv(want - len(got))
        if not chunk:
            return got
        got += chunk
    dn, proof = got[len(AUTH_MAGIC):len(AUTH_MAGIC) + NONCE], got[len(AUTH_MAGIC) + NONCE:]
    if not hmac.compare_digest(proof, _proof(token, b"rgcs-daemon-v1", cn, dn)):
        raise AuthRefused("the daemon does not know this client token (wrong token, or "
                          "not the daemon you meant)")
    sock.sendall(_proof(token, b"rgcs-client-v1", cn, dn))
    return b""
