"""Binding a Unix session socket that only its owner (or one group) may connect to.

Theory of operation
-------------------
Connecting to a Unix socket needs write permission on the socket file, and a freshly
bound file gets whatever mode the process umask leaves (often 0775/0755: anyone may
connect). Changing the umask is process-wide and racy in a threaded program, and a chmod
after bind leaves a window. So ``bind_private`` binds under a temporary name next to the
target, sets the mode (0600, or 0660 plus the group for ``group``), and renames the file
onto the target path: the socket is never reachable under its real name with a looser
mode. Paths too long for a temporary name fall back to bind then chmod. Stateless.
"""

from __future__ import annotations

import os
import secrets
import socket

__all__ = ["bind_private", "SOCKET_MODE", "GROUP_SOCKET_MODE"]

SOCKET_MODE = 0o600
GROUP_SOCKET_MODE = 0o660
_SUN_PATH_MAX = 107


def _restrict(path: str, group: str | None) -> None:
    if group is not None:
        import grp
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    os.chmod(path, GROUP_SOCKET_MODE if group is not None else SOCKET_MODE)


def bind_private(sock: socket.socket, path: str, group: str | None = None) -> None:
    """Bind ``sock`` (AF_UNIX) at ``path`` with a restrictive mode; raises OSError."""
    tmp = f"{path}.{secrets.token_hex(3)}~"
    if len(os.fsencode(tmp)) > _SUN_PATH_MAX:
        sock.bind(path)
        _restrict(path, group)
        return
    sock.bind(tmp)
    try:
        _restrict(tmp, group)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
