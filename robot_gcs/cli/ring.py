"""Naming the ring: one rule for every command that talks to a running robot.

What it owns: how ``robot-gcs topic``, ``status``, ``monitor``, ``param`` and ``service``
find the daemons to talk to, the options that name them (``add_ring_arguments``, accepted
before or after the subcommand: ``robot-gcs -c ring.yaml topic list`` and ``robot-gcs topic
list -c ring.yaml`` are the same), and attaching to the first daemon that answers
(``connect_first``). In order:

1. ``--connect ADDR`` (``unix:/path`` or ``tcp:host:port``): that daemon only.
2. ``-c/--config RING.yaml``, else the ``config:`` of ``--launch FILE`` (topic tools), else
   the environment variable ``ROBOT_GCS_CONFIG``: the config's daemons that serve session
   sockets -- ``-n NAME`` first, then those whose socket exists now, then the rest -- so
   a console can move to another daemon of the ring when its daemon dies.
3. Otherwise the local daemons' directory (diagnostics/rundir.py): every running daemon
   on this machine advertises itself there. One ring found: its daemons. Several: an
   error that lists them and says how to pick one. None: an error that says how to name
   the ring (or start one).

Errors are ``RobotNotFound`` (a ``GcsError``) with a sentence for the user, or
``ConfigError`` for a bad config (file:line:field).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from ..client.session import Session
from ..config import GcsConfig, load_config
from ..diagnostics.rundir import DaemonRecord, live_records, runtime_dir
from ..errors import ConfigError, GcsError

CONFIG_ENV = "ROBOT_GCS_CONFIG"


class RobotNotFound(GcsError):
    """No running daemon could be named or reached; the message says what to do."""


@dataclass(frozen=True, slots=True)
class RingTarget:
    """The daemons to try, in order, and what is known of their ring."""

    addresses: tuple[tuple[str, str], ...]     # (daemon name or "", session address)
    config: str | None                         # the ring config, when known
    daemons: tuple[str, ...]                   # every daemon of the ring (for status)
    how: str                                   # where the names came from, for messages


def add_ring_arguments(parser: argparse.ArgumentParser, launch: bool = False) -> None:
    """The options that name the ring (defaults suppressed: they may come before the
    subcommand, and a later level must not overwrite an earlier one)."""
    g = parser.add_argument_group(
        "finding the robot",
        f"default: ${CONFIG_ENV}, else the daemons running on this machine "
        f"(advertised in {runtime_dir()})")
    g.add_argument("-c", "--config", metavar="RING.yaml", default=argparse.SUPPRESS,
                   help="the ring's config: attach to one of its daemons")
    g.add_argument("-n", "--name", metavar="DAEMON", default=argparse.SUPPRESS,
                   help="the daemon to attach to first")
    g.add_argument("--connect", metavar="ADDR", default=argparse.SUPPRESS,
                   help="a daemon's session address (unix:/path.sock or tcp:host:port)")
    if launch:
        g.add_argument("--launch", metavar="FILE", default=argparse.SUPPRESS,
                       help="a launch file: its ring config, topic types and QoS")


def _opt(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name, None)
    return str(value) if value else None


def _launch_config(path: str) -> str:
    from ..launch.loader import load_launch
    return load_launch(path, check_config=False).config_path


def ring_target(args: argparse.Namespace) -> RingTarget:
    """The daemons named by ``args`` (see the module docstring for the rule)."""
    connect, name = _opt(args, "connect"), _opt(args, "name")
    config, how = _opt(args, "config"), "-c"
    if config is None and _opt(args, "launch"):
        config, how = _launch_config(str(_opt(args, "launch"))), "the launch file's config"
    if config is None and os.environ.get(CONFIG_ENV):
        config, how = os.environ[CONFIG_ENV], f"${CONFIG_ENV}"
    if connect:
        daemons = _names(load_config(config)) if config else ()
        return RingTarget(((name or "", connect),), config, daemons, "--connect")
    if config:
        return _from_config(load_config(config), name, f"{how} {config}")
    return _from_records(live_records(), name)


def _names(cfg: GcsConfig) -> tuple[str, ...]:
    return tuple(d.name for d in cfg.daemons)


def socket_missing(address: str) -> bool:
    """A Unix session socket whose file does not exist (now): its daemon is not up."""
    return address.startswith("unix:") and not os.path.exists(address[5:])


def _from_config(cfg: GcsConfig, name: str | None, how: str) -> RingTarget:
    if name is not None:
        entry = cfg.daemon(name)                 # ConfigError: no such daemon
        if not entry.socket:
            raise ConfigError(f"daemon {name} serves no session socket (give it `socket:`)",
                              cfg.path, entry.line, "socket")
    first = [d for d in cfg.daemons if d.name == name]
    rest = [d for d in cfg.daemons if d.name != name and d.socket]
    # sockets that exist now first; the others stay on the list (a daemon still starting,
    # or one to fail over to later)
    rest.sort(key=lambda d: socket_missing(str(d.socket)))
    addresses = tuple((d.name, str(d.socket)) for d in first + rest)
    if not addresses:
        raise RobotNotFound(f"no daemon of ring {cfg.ring.name} ({how}) serves session "
                            "sockets (give the daemons `socket:` in the config)")
    return RingTarget(addresses, cfg.path, _names(cfg), how)


def _from_records(records: list[DaemonRecord], name: str | None) -> RingTarget:
    where = runtime_dir()
    if not records:
        raise RobotNotFound(f"no robot found: no daemon runs on this machine (none in "
                            f"{where}); name the ring with -c RING.yaml or "
                            f"{CONFIG_ENV}=RING.yaml, or start one (robot-gcs demo)")
    rings: dict[tuple[str, str], list[DaemonRecord]] = {}
    for r in records:
        rings.setdefault((r.ring, r.config), []).append(r)
    if name is not None:
        rings = {k: v for k, v in rings.items() if any(r.daemon == name for r in v)}
        if not rings:
            raise RobotNotFound(f"no daemon named {name} runs on this machine (found: "
                                f"{', '.join(sorted({r.daemon for r in records}))})")
    if len(rings) > 1:
        listed = "; ".join(f"{ring} ({config or 'no config file'}: "
                           f"{', '.join(r.daemon for r in recs)})"
                           for (ring, config), recs in sorted(rings.items()))
        raise RobotNotFound(f"several rings run on this machine: {listed}; pick one with "
                            f"-c RING.yaml or {CONFIG_ENV}")
    (ring, config), recs = next(iter(rings.items()))
    recs.sort(key=lambda r: (r.daemon != name, r.daemon))
    daemons = tuple(sorted({r.daemon for r in recs}))
    if config and os.path.exists(config):
        try:
            daemons = _names(load_config(config))
        except ConfigError:
            pass
    return RingTarget(tuple((r.daemon, r.address) for r in recs), config or None, daemons,
                      f"ring {ring} found in {where}")


def connect_first(target: RingTarget, client: str) -> tuple[Session, str]:
    """A socket session to the first daemon of ``target`` that answers: (session, daemon).

    Raises ``RobotNotFound`` saying what each daemon answered."""
    from ..client.socket_session import connect
    token = None
    if target.config and any(a.startswith("tcp:") for _d, a in target.addresses):
        try:
            token = load_config(target.config).ring.client_token   # TCP sessions prove it
        except ConfigError:
            pass
    failures = []
    for daemon, address in target.addresses:
        try:
            session = connect(address, client, token=token)
        except GcsError as exc:
            failures.append(f"{daemon or address}: {exc}")
            continue
        return session, daemon or session.private_name.rsplit("#", 1)[-1]
    raise RobotNotFound(f"cannot attach to the ring ({target.how}): " + "; ".join(failures))
