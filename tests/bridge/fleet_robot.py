"""A robot for the fleet tests, as its own process: a 2-daemon ring on loopback, a fleet
bridge (Zenoh client of the base station) on daemon 1, an app node on daemon 2.

    fleet_robot.py <robot> <other robot> <base endpoint> <workdir>

The app publishes ``/odom`` (Odom(robot, seq, x=seq/10)) every 20 ms; the bridge sends
``/odom`` out as ``fleet/<robot>/odom`` and brings ``fleet/<other>/odom`` in as
``/<other>/odom``, which it also (wrongly) lists outbound so the loop rule is exercised.
Prints ``{"ready": true}`` once the bridge runs and one JSON line per received
``/<other>/odom`` message (the first 50). Runs until killed or stdin closes.
"""

import json
import sys
import threading
from pathlib import Path

from fleet_msgs import Odom

from robot_gcs.bridge import Bridge, BridgeSpec, InRule, OutRule, ZenohOptions, bridge_node_name
from robot_gcs.pubsub.node import Node
from robot_gcs.pubsub.qos import QoS
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import write_ring_config


def main() -> int:
    robot, other, base, workdir = sys.argv[1:5]
    cfg = write_ring_config(Path(workdir), 2, name=robot, prefix=robot)
    daemons = [Daemon.from_file(str(cfg), name=f"{robot}{i}") for i in (1, 2)]
    for d in daemons:
        d.start()
    spec = BridgeSpec("fleet", "fleet",
                      out=(OutRule("/odom", Odom), OutRule(f"/{other}/odom", Odom)),
                      inbound=(InRule(f"fleet/{other}/odom", f"/{other}/odom", Odom,
                                      ring_qos=QoS(depth=100)),),
                      options=ZenohOptions(robot, mode="client", connect=(base,), period=0.5))
    bnode = Node(bridge_node_name("fleet"), daemons[0])
    bridge = Bridge(bnode, daemons[0], spec)
    threading.Thread(target=bnode.spin, daemon=True).start()
    app = Node("app", daemons[1])
    printed = [0]

    def on_other(m: Odom) -> None:
        if printed[0] < 50:
            printed[0] += 1
            print(json.dumps({"robot": m.robot, "seq": m.seq, "x": m.x}), flush=True)
    app.create_subscription(Odom, f"/{other}/odom", on_other, QoS(depth=100))
    pub = app.create_publisher(Odom, "/odom", 10)
    seq = [0]

    def tick() -> None:
        seq[0] += 1
        pub.publish(Odom(robot, seq[0], seq[0] / 10))
    app.create_timer(0.02, tick)
    stop = threading.Event()

    def watch_stdin() -> None:
        for _ in sys.stdin:
            pass
        stop.set()
        app.stop()
    threading.Thread(target=watch_stdin, daemon=True).start()
    print(json.dumps({"ready": True}), flush=True)
    app.spin()
    bnode.stop()
    bridge.close()
    for d in daemons:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
