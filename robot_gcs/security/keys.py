"""Ring key files: making them (``robot-gcs keygen``), reading them, naming them.

Theory of operation
-------------------
A key file holds the secret every daemon of one ring shares. ``write_key_file`` makes a
fresh one: 32 random bytes from ``secrets`` written as 64 hex digits and a newline, the
file created with ``O_CREAT | O_EXCL`` and mode 0600 (an existing file is never
overwritten, a symlink planted at the path is not followed). ``read_key_file`` takes any
file of at least 16 bytes after stripping white space (older hand-made keys keep
working), refuses a file that other users may read or write, and returns the material.

Nothing here keeps state: a key is a ``bytes`` value owned by the frozen config
(config.py ``RingConfig.key`` / ``accept_keys``) that read it.

``create_key_if_missing`` serves single-machine rings (the demo, local test configs):
the first daemon to start makes the key, the others read it. It refuses a key directory
that another user owns or may write, so nobody can plant a key there first.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

__all__ = ["KeyFileError", "MIN_KEY_BYTES", "read_key_file", "write_key_file",
           "create_key_if_missing", "key_fingerprint"]

MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 4096          # a key file larger than this is not a key file


class KeyFileError(Exception):
    """A key file cannot be made or used; the message says what to do (config.py turns it
    into a ConfigError with the line of ``key_file``)."""


def write_key_file(path: str) -> str:
    """Write a fresh random key to ``path`` (mode 0600); refuse to overwrite anything.

    Returns the key's fingerprint (``key_fingerprint``) for the user to compare."""
    material = secrets.token_hex(32).encode() + b"\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; a key file is never overwritten "
                           "(remove it first if you really mean to replace the ring's key)"
                           ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)           # whatever the umask said
        os.write(fd, material)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key_fingerprint(material.strip())


def read_key_file(path: str) -> bytes:
    """The key material in ``path``; raises KeyFileError with the fix in its message."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KeyFileError(f"key file {path} is a symbolic link; name the file itself"
                               ) from None
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        if st.st_mode & 0o027:
            raise KeyFileError(f"key file {path} may be read or written by other users "
                               f"(mode {stat.S_IMODE(st.st_mode):04o}); run "
                               f"`chmod 600 {path}`")
        if st.st_size > MAX_KEY_BYTES:
            raise KeyFileError(f"key file {path} is {st.st_size} bytes; a key file made by "
                               "`robot-gcs keygen` is 65")
        data = os.read(fd, MAX_KEY_BYTES + 1)
    finally:
        os.close(fd)
    key = data.strip()
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(f"key in {path} is too short ({len(key)} bytes, need "
                           f"{MIN_KEY_BYTES}+); make one with `robot-gcs keygen PATH`")
    return key


def create_key_if_missing(path: str) -> None:
    """Make ``path`` with a fresh key unless it exists (single-machine rings only).

    The directory is created (0700) when missing; a directory owned by another user or
    writable by others is refused."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.stat(directory)
    except OSError as exc:
        raise KeyFileError(f"cannot create key directory {directory}: {exc.strerror}"
                           ) from None
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise KeyFileError(f"will not create a key in {directory}: it belongs to another "
                           "user or others may write to it")
    try:
        write_key_file(path)
    except KeyFileError:
        if not os.path.lexists(path):
            raise
        # another daemon made it first: fine, it is read next


def key_fingerprint(key: bytes) -> str:
    """A short public name of a key (safe to print and log): 8 hex digits."""
    import hashlib
    return hashlib.blake2b(key, digest_size=4, person=b"rgcs-key-fpr").hexdigest()
