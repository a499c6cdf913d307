"""The live view: the recorder's stream served to Foxglove over its WebSocket protocol.

What it owns: ``FoxgloveSink``, the channels of one ``foxglove-sdk`` Context and the
WebSocket server bound to it. It is a sink for ``Recorder`` (recorder.py) in place of an
MCAP file, so the live view shows exactly what a recording holds: one channel per topic
and message type with its JSON schema (Foxglove plots any numeric field: ``/odom.x``),
``#gcs/views`` (group views: members, cause, transitional or regular) and ``#gcs/ring``
(the daemons of the ring). The SDK speaks the published protocol
(``foxglove.websocket.v1``): clients get ``advertise`` for each channel, ``subscribe``,
and then binary message-data frames. The thread that spins the recorder's Node owns the
sink; the SDK's server runs on its own threads and only reads what ``log`` hands it.

Messages are turned into JSON only while some client subscribes to their channel
(``wanted``), so an idle server costs the ring its membership and little else.
Binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .schema import JsonForm
from .writer import WriterStats


class FoxgloveSink:
    """Recorder sink that logs to Foxglove channels (see the module doc)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, name: str = "robot_gcs") -> None:
        import foxglove
        self._fg = foxglove
        self.context = foxglove.Context()
        self.server = foxglove.start_server(name=name, host=host, port=port, context=self.context)
        self._channels: list[Any] = []
        self._messages = 0
        self._bytes = 0
        self.on_new_file: Callable[[], None] | None = None

    @property
    def port(self) -> int:
        return int(self.server.port)

    def channel(self, topic: str, form: JsonForm, metadata: dict[str, str]) -> int:
        schema = self._fg.Schema(name=form.name, encoding="jsonschema",
                                 data=json.dumps(form.schema).encode())
        ch = self._fg.Channel(topic, schema=schema, message_encoding="json",
                              context=self.context, metadata=dict(metadata))
        self._channels.append(ch)
        return len(self._channels) - 1

    def wanted(self, channel: int) -> bool:
        return bool(self._channels[channel].has_sinks())

    def write(self, channel: int, log_time: float, publish_time: float, data: bytes) -> None:
        self._channels[channel].log(data, log_time=int(log_time * 1e9))
        self._messages += 1
        self._bytes += len(data)

    def tick(self) -> None:
        pass

    def close(self) -> None:
        for ch in self._channels:
            ch.close()
        self.server.stop()

    def statistics(self) -> WriterStats:
        return WriterStats((), self._messages, self._bytes)
