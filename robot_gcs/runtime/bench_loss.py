"""``robot-gcs bench --loss PCT``: the same rows with that share of UDP datagrams lost.

Theory of operation
-------------------
A loss that the kernel makes, on the real socket path: the bench creates a private
network namespace (runtime/netns.py: only its own loopback, so nothing leaves the
machine) whose nftables input chain drops ``PCT`` % of all UDP datagrams at random, and
runs itself again inside it (``python -m robot_gcs.runtime.bench``, the parsed arguments
passed as JSON in ``ROBOT_GCS_BENCH_NETNS_ARGS``, read back by ``args_from_env``; this
module does not import bench.py, which imports it). Every ring the inner bench
starts -- its daemons, worker processes and their loopback sockets -- lives in the
namespace, so every ring datagram crosses the rule. The inner bench reads the rule's
counter at the end and reports it with its footer (or in ``--json``'s environment); the
outer one only creates the namespace, forwards the exit status and deletes it.

Needs root, ``ip`` and ``nft``; without them the bench says which is missing and exits
with status 2. Delay and reordering are not offered: that is the simulator's business
(``robot-gcs sim``).

Owner: the outer process owns the namespace (created and deleted here); the inner one
owns nothing of it and only reads the counter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from .netns import Netns, NetnsError, dropped_here, missing, random_drop_rule

__all__ = ["inside", "run_in_lossy_namespace", "args_from_env", "dropped"]

ENV_ARGS = "ROBOT_GCS_BENCH_NETNS_ARGS"


def inside() -> bool:
    """This bench runs in the namespace its outer bench made."""
    return ENV_ARGS in os.environ


def run_in_lossy_namespace(args: argparse.Namespace) -> int:
    """Outer side: make the namespace, run the bench inside it, delete it."""
    try:
        rule = random_drop_rule(args.loss)
    except ValueError as exc:
        print(f"robot-gcs bench: bad --loss: {exc}", file=sys.stderr)
        return 2
    why = missing()
    if why is not None:
        print(f"robot-gcs bench --loss: {why}", file=sys.stderr)
        return 2
    passed = {k: v for k, v in vars(args).items()
              if not k.startswith("_") and isinstance(v, (str, int, float, bool, type(None)))}
    try:
        with Netns("gcsbench") as ns:
            ns.set_rules([rule])
            env = dict(os.environ, **{ENV_ARGS: json.dumps(passed)})
            return subprocess.run([*ns.prefix, sys.executable, "-m", "robot_gcs.runtime.bench"],
                                  env=env, check=False).returncode
    except NetnsError as exc:
        print(f"robot-gcs bench --loss: {exc}", file=sys.stderr)
        return 2


def dropped() -> int | None:
    """Inner side: datagrams the rule dropped so far (None if it cannot be read)."""
    try:
        return dropped_here()
    except (NetnsError, OSError, subprocess.SubprocessError):
        return None


def args_from_env() -> argparse.Namespace:
    """Inner side: the outer bench's parsed arguments."""
    return argparse.Namespace(**json.loads(os.environ[ENV_ARGS]))
