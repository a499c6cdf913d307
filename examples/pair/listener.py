"""Processor cpu2: prints /odom and resets the odometer once, through the /reset service."""
import robot_gcs as gcs
from examples.pair.messages import Odometry, Reset

with gcs.Daemon.from_file("config/pair.yaml", name="cpu2") as daemon:
    node = gcs.Node("listener", daemon)
    node.create_subscription(Odometry, "/odom", lambda m: print(f"x={m.x:.1f} speed={m.speed}", flush=True), 10)
    reset = node.create_client(Reset, "/reset")
    reset.wait_for_service(timeout=10.0)
    print("reset:", reset.call(Reset.Request(x=0.0), timeout=5.0), flush=True)
    node.spin()                                          # until Ctrl-C
