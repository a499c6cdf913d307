"""Processor cpu1: odometry at 10 Hz on /odom, the /reset service, a `speed` parameter."""
import robot_gcs as gcs
from examples.pair.messages import Odometry, Reset

with gcs.Daemon.from_file("config/pair.yaml", name="cpu1") as daemon:
    node = gcs.Node("talker", daemon)
    node.declare_parameter("speed", 1.0)                 # metres per second, settable at run time
    pub = node.create_publisher(Odometry, "/odom", 10)   # rclpy's argument order
    odom = {"x": 0.0}

    def tick() -> None:
        speed = node.get_parameter("speed").value
        odom["x"] += speed * 0.1
        pub.publish(Odometry(odom["x"], speed))

    def reset(request: Reset.Request) -> Reset.Response:
        previous, odom["x"] = odom["x"], request.x
        node.get_logger().info("odometer reset to %.1f", request.x)   # also on /rosout
        return Reset.Response(previous)

    node.create_timer(0.1, tick)
    node.create_service(Reset, "/reset", reset)
    print("talker: publishing /odom, serving /reset", flush=True)
    node.spin()                                          # until Ctrl-C
