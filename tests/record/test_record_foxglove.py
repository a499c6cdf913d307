"""`robot-gcs foxglove` serves the Foxglove WebSocket protocol: a plain `websockets` client
following the published spec (foxglove/ws-protocol) gets the advertised channels with
their JSON schemas, subscribes to a topic and receives its messages as JSON.

The subprotocol: the spec's name is ``foxglove.websocket.v1``; foxglove-sdk servers (and
foxglove_bridge 3.x) answer only to its new name ``foxglove.sdk.v1``, the same protocol.
The client offers both, as the Foxglove app and its forks do."""

from __future__ import annotations

import asyncio
import json
import struct
import time

from examples.robot_demo.messages import Odometry
from rec_ring import Publishing, ViewWatch, ring, stop, tool

OP_MESSAGE_DATA = 0x01


async def _client(port: int, topic: str, timeout: float) -> tuple[dict, dict, list[dict]]:
    import websockets
    async with websockets.connect(f"ws://127.0.0.1:{port}",
                                  subprotocols=["foxglove.websocket.v1", "foxglove.sdk.v1"]) as ws:
        assert ws.subprotocol in ("foxglove.websocket.v1", "foxglove.sdk.v1")
        info: dict = {}
        channels: dict[str, dict] = {}
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(got) < 3:
            left = deadline - time.monotonic()
            assert left > 0, f"nothing on {topic}: channels {sorted(channels)}"
            frame = await asyncio.wait_for(ws.recv(), left)
            if isinstance(frame, str):
                msg = json.loads(frame)
                if msg["op"] == "serverInfo":
                    info = msg
                elif msg["op"] == "advertise":
                    for ch in msg["channels"]:
                        channels[ch["topic"]] = ch
                        if ch["topic"] == topic:
                            await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                                {"id": 7, "channelId": ch["id"]}]}))
                continue
            op, sub_id, _log_time = struct.unpack_from("<BIQ", frame, 0)
            assert op == OP_MESSAGE_DATA and sub_id == 7
            got.append(json.loads(frame[13:]))
        return info, channels, got


def test_foxglove_websocket_client_receives_a_topic() -> None:
    with ring(1, "recfox") as (daemons, addrs, tmp):
        server = tool("foxglove", "--connect", addrs[0], "--port", "0")
        watch = ViewWatch(daemons[0], ["t:/odom"])
        pub = Publishing(daemons[0], "perception", "/odom", Odometry,
                         lambda i: Odometry(i, time.time(), 0.5 * i, 1.0, 0.0, 0.2, 0.0), 100_000, 50.0)
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            assert line.startswith("serving ws://127.0.0.1:"), line + (server.stderr.read() if server.poll() is not None else "")
            port = int(line.split()[1].rsplit(":", 1)[1])
            pub.start()         # announced once it spins; the server joins /odom then
            watch.wait(lambda v: any(m.startswith("#foxglove-") for m in v.get("t:/odom", ())))
            info, channels, got = asyncio.run(_client(port, "/odom", 60.0))
        finally:
            pub.halt()
            stop(server)
            pub.close()
            watch.close()
    assert info.get("name") == "robot_gcs"
    odom = channels["/odom"]
    assert odom["encoding"] == "json" and odom["schemaEncoding"] == "jsonschema"
    schema = json.loads(odom["schema"])
    assert schema["properties"]["x"] == {"type": "number"} and "seq" in schema["required"]
    assert "#gcs/ring" in channels and "#gcs/views" in channels
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and all(m["x"] == 0.5 * m["seq"] for m in got)
    assert all(m["_gcs"]["from"] == "#perception#d1" for m in got)
