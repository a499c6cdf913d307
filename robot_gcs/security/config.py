"""The security keys of a ring config: ``key_file``, ``accept_key_files``, ``create_key``,
``security``.

Theory of operation
-------------------
config.py hands the ``ring:`` mapping here and gets a frozen ``RingSecurity`` back;
errors come back through config.py's error factory, so they carry file, line and field::

    ring:
      key_file: ring.key          # the ring's key (robot-gcs keygen ring.key)
      accept_key_files: [old.key] # rollover: keys also accepted on receipt (optional)
      create_key: false           # true: make key_file when missing -- only for rings
                                  #   whose daemons all run on this machine (loopback)
      security: sealed            # default; `insecure` runs without a key, on purpose
      client_token_file: null     # TCP sessions: the token clients must prove (default:
                                  #   derived from the ring key; security/session_auth.py)
      socket_group: null          # a group name: Unix sockets 0660 for it (default 0600)

Rules: ``security`` is ``sealed`` or ``insecure``; an insecure ring names no key (a key
and ``insecure`` contradict each other); ``accept_key_files`` and ``create_key`` need
``key_file``. Relative paths are relative to the config file. A sealed ring without a
key parses (tools can still read it) but no daemon starts from it
(``require_key``, called by runtime/daemon.py). Stateless: everything returned is frozen.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError
from .keys import KeyFileError, create_key_if_missing, read_key_file
from .session_auth import derived_client_token

__all__ = ["SECURITY_KEYS", "RingSecurity", "ring_security", "require_key", "NO_KEY_HELP"]

SECURITY_KEYS = ("accept_key_files", "create_key", "security", "client_token_file",
                 "socket_group")

NO_KEY_HELP = ("ring packets are sealed by default and this ring has no key. Make one with "
               "`robot-gcs keygen PATH` (copy it to every computer of the ring) and set "
               "`key_file: PATH` under `ring:`; or, to run without any protection (anyone "
               "who can send a UDP packet to a daemon can then stop the ring), set "
               "`security: insecure` under `ring:`")

ErrorFactory = Callable[[str, str], ConfigError]


@dataclass(frozen=True, slots=True)
class RingSecurity:
    security: str = "sealed"
    key: bytes | None = None
    key_file: str | None = None
    accept_keys: tuple[bytes, ...] = ()
    client_token: bytes | None = None
    socket_group: str | None = None


def _full(path: str | None, name: str) -> str:
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    return name if os.path.isabs(name) else os.path.join(base, name)


def _path(value: Any, field: str, error: ErrorFactory) -> str:
    if not isinstance(value, str) or not value:
        raise error(field, f"must be a file path, got {value!r}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ring_security(ring: dict[str, Any], hosts: list[str], path: str | None,
                  error: ErrorFactory) -> RingSecurity:
    """Read the security keys of the ``ring:`` mapping (see the module docstring)."""
    security = ring.get("security", "sealed")
    if security not in ("sealed", "insecure"):
        raise error("ring.security", f"must be 'sealed' or 'insecure', got {security!r}")
    key_file = ring.get("key_file")
    accept = ring.get("accept_key_files")
    create = ring.get("create_key", False)
    if not isinstance(create, bool):
        raise error("ring.create_key", f"must be true or false, got {create!r}")
    group = ring.get("socket_group")
    if group is not None:
        group = _group(group, error)
    if security == "insecure":
        for field, value in (("key_file", key_file), ("accept_key_files", accept),
                             ("create_key", create or None),
                             ("client_token_file", ring.get("client_token_file"))):
            if value is not None:
                raise error(f"ring.{field}", "contradicts `security: insecure` (an "
                            "insecure ring has no key); remove one of them")
        return RingSecurity("insecure", socket_group=group)
    if key_file is None:
        for field, value in (("accept_key_files", accept), ("create_key", create or None),
                             ("client_token_file", ring.get("client_token_file"))):
            if value is not None:
                raise error(f"ring.{field}", "needs `key_file`")
        return RingSecurity(socket_group=group)
    full = _full(path, _path(key_file, "ring.key_file", error))
    if create:
        remote = [h for h in hosts if not _is_loopback(h)]
        if remote:
            raise error("ring.create_key", "only for rings whose daemons all run on this "
                        f"machine (loopback addresses); {remote[0]} is not: make the key "
                        "with `robot-gcs keygen` and copy it to every computer")
    try:
        if create:
            create_key_if_missing(full)
        key = read_key_file(full)
    except KeyFileError as exc:
        raise error("ring.key_file", str(exc)) from None
    extra: list[bytes] = []
    if accept is not None:
        if not isinstance(accept, list):
            raise error("ring.accept_key_files", "must be a list of key file paths")
        for i, item in enumerate(accept):
            field = f"ring.accept_key_files[{i}]"
            try:
                extra.append(read_key_file(_full(path, _path(item, field, error))))
            except KeyFileError as exc:
                raise error(field, str(exc)) from None
    token = derived_client_token(key)
    token_file = ring.get("client_token_file")
    if token_file is not None:
        try:
            token = read_key_file(_full(path, _path(token_file, "ring.client_token_file",
                                                    error)))
        except KeyFileError as exc:
            raise error("ring.client_token_file", str(exc)) from None
    return RingSecurity("sealed", key, full, tuple(k for k in extra if k != key), token,
                        group)


def _group(value: Any, error: ErrorFactory) -> str:
    import grp
    if not isinstance(value, str) or not value:
        raise error("ring.socket_group", f"must be a group name, got {value!r}")
    try:
        grp.getgrnam(value)
    except KeyError:
        raise error("ring.socket_group", f"no group named {value!r} on this machine"
                    ) from None
    return value


def require_key(security: str, key: bytes | None, config_path: str | None) -> None:
    """Raise ConfigError (with the way out) when a daemon would start without a key."""
    if security != "insecure" and key is None:
        raise ConfigError(NO_KEY_HELP, config_path, None, "ring.key_file")
