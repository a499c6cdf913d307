"""Writing a recording: MCAP files with JSON channels, chunked, compressed, split.

What it owns: the open MCAP file(s) of one recording (``BagWriter``), through the ``mcap``
library's ``Writer``. One recorder thread owns a BagWriter; nothing else touches it.

Rules:

* Channels are declared once (``channel(topic, form, metadata)`` -> key) and registered
  in every file of the recording, in the same order, so a split file is complete by
  itself: schema (JSON schema, encoding ``jsonschema``), channel (encoding ``json``).
* Records are chunked (``chunk_size`` bytes of uncompressed records, or at most
  ``flush_s`` seconds of them) and compressed per chunk (zstd, lz4 or none). Each chunk
  goes to the file with unbuffered writes as soon as it is complete, followed by its
  message indexes, so a recorder killed with SIGKILL leaves a file whose every complete
  chunk can be read (bag.py ``read_bag`` reads such a file up to its last chunk; it loses
  at most the last ``flush_s`` seconds or ``chunk_size`` bytes).
* Splitting: with ``split_bytes`` or ``split_s`` the files are ``STEM_0.mcap``,
  ``STEM_1.mcap``...; a new file starts when the current one passed either bound. The
  ``on_new_file`` hook runs right after a new file is opened (the recorder writes the
  current views there, so each file says where its messages stand).
* Times are nanoseconds; the clock is passed in (``clock()`` -> seconds).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import LocalProtocolError
from .schema import JsonForm

COMPRESSIONS = ("zstd", "lz4", "none")
PROFILE = "robot_gcs"


@dataclass(frozen=True, slots=True)
class WriterStats:
    files: tuple[str, ...]
    messages: int
    bytes: int               # bytes written to disk so far (complete chunks)


class _Sink:
    """An unbuffered file for mcap's Writer: every write reaches the kernel at once."""

    def __init__(self, path: str) -> None:
        self._f = open(path, "wb", buffering=0)
        self._pos = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = self._f.write(view)
            if n is None:          # pragma: no cover - only non-blocking files
                continue
            view = view[n:]
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._f.close()


@dataclass(frozen=True, slots=True)
class _Channel:
    topic: str
    form: JsonForm
    metadata: dict[str, str]


class BagWriter:
    """The files of one recording (see the module doc)."""

    def __init__(self, path: str, *, compression: str = "zstd", chunk_size: int = 1 << 20,
                 flush_s: float = 1.0, split_bytes: int = 0, split_s: float = 0.0,
                 clock: Callable[[], float], metadata: dict[str, str] | None = None,
                 on_new_file: Callable[[], None] | None = None) -> None:
        if compression not in COMPRESSIONS:
            raise LocalProtocolError(f"compression must be one of {', '.join(COMPRESSIONS)}, "
                                     f"got {compression!r}")
        if chunk_size < 1024 or split_bytes < 0 or split_s < 0 or flush_s < 0:
            raise LocalProtocolError("chunk size >= 1024 bytes; split and flush bounds >= 0")
        self._path = Path(path)
        self._compression = compression
        self._chunk_size = chunk_size
        self._flush_s = flush_s
        self._split_bytes = split_bytes
        self._split_s = split_s
        self._clock = clock
        self._metadata = dict(metadata or {})
        self.on_new_file = on_new_file
        self._channels: list[_Channel] = []
        self._files: list[str] = []
        self._writer: Any = None
        self._sink: _Sink | None = None
        self._opened_at = 0.0
        self._flushed_at = 0.0
        self._messages = 0
        self._bytes_done = 0            # bytes of finished files
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    # ------------------------------------------------------------ files

    def _file_name(self) -> str:
        if not (self._split_bytes or self._split_s):
            return str(self._path)
        stem = self._path.name[:-5] if self._path.name.endswith(".mcap") else self._path.name
        return str(self._path.with_name(f"{stem}_{len(self._files)}.mcap"))

    def _open(self) -> None:
        from mcap.writer import CompressionType, Writer
        name = self._file_name()
        self._sink = _Sink(name)
        comp = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4,
                "none": CompressionType.NONE}[self._compression]
        # _Sink is file-like but no IO subclass: an IO would buffer finished chunks
        self._writer = Writer(self._sink, chunk_size=self._chunk_size,  # type: ignore[arg-type]
                              compression=comp)
        self._writer.start(profile=PROFILE, library="robot_gcs record")
        self._writer.add_metadata("robot_gcs", {**self._metadata, "part": str(len(self._files))})
        for ch in self._channels:
            self._register(ch)
        self._files.append(name)
        self._opened_at = self._flushed_at = self._clock()
        if self.on_new_file is not None:
            self.on_new_file()

    def _register(self, ch: _Channel) -> int:
        schema_id = self._writer.register_schema(
            ch.form.name, "jsonschema", json.dumps(ch.form.schema).encode())
        return int(self._writer.register_channel(ch.topic, "json", schema_id, ch.metadata))

    def _finish(self) -> None:
        assert self._sink is not None
        self._writer.finish()
        self._bytes_done += self._sink.tell()
        self._sink.close()
        self._sink = None

    # ------------------------------------------------------------ public

    def channel(self, topic: str, form: JsonForm, metadata: dict[str, str]) -> int:
        """Declare a channel; returns its id (the same in every file)."""
        ch = _Channel(topic, form, dict(metadata))
        self._channels.append(ch)
        return self._register(ch)

    def wanted(self, channel: int) -> bool:
        """A file wants every record."""
        return True

    def write(self, channel: int, log_time: float, publish_time: float, data: bytes) -> None:
        """One record (times in seconds; stored as nanoseconds)."""
        self._writer.add_message(channel, int(log_time * 1e9), data, int(publish_time * 1e9),
                                 self._messages & 0xFFFFFFFF)
        self._messages += 1

    def tick(self) -> None:
        """Flush a chunk that is ``flush_s`` old; start the next file when due."""
        now = self._clock()
        assert self._sink is not None
        if (self._split_bytes and self._sink.tell() >= self._split_bytes) or \
                (self._split_s and now - self._opened_at >= self._split_s):
            self._finish()
            self._open()
            return
        if self._flush_s and now - self._flushed_at >= self._flush_s:
            self._writer.flush()
            self._flushed_at = now

    def close(self) -> None:
        """Finish the current file (summary, indexes, footer)."""
        if self._sink is not None:
            self._finish()

    def statistics(self) -> WriterStats:
        size = self._bytes_done + (self._sink.tell() if self._sink is not None else 0)
        return WriterStats(tuple(self._files), self._messages, size)


def default_output(now: float) -> str:
    """``rosbag``-like default name: ``gcs_YYYY-MM-DD-HH-MM-SS.mcap`` in the current dir."""
    import time
    return os.path.join(os.getcwd(), time.strftime("gcs_%Y-%m-%d-%H-%M-%S.mcap", time.localtime(now)))
