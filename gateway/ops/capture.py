"""Capture files: MQTT traffic recorded from the broker, replayed later.

Format (documented in docs/operations.md): the 8-byte header ``TGCAP1\\n\\0``, then records
``<u32 big-endian length><msgpack [received_ms, qos, retain, topic, payload]>``. Records are
appended and flushed one by one, so a reader may follow a file while it is written: a
trailing partial record is simply not read yet. Files rotate by size: ``FILE``, ``FILE.1``...
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import msgpack

MAGIC = b"TGCAP1\n\0"
_LEN = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Record:
    """One captured message."""

    received_ms: int
    qos: int
    retain: bool
    topic: str
    payload: bytes


class CaptureWriter:
    """Appends records, rotating to FILE.1, FILE.2, ... past ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.base = path
        self.max_bytes = max_bytes
        self.part = 0
        self.count = 0
        self._open()

    def _open(self) -> None:
        path = self.base if self.part == 0 else self.base.with_name(f"{self.base.name}.{self.part}")
        self.fh = open(path, "ab")  # noqa: SIM115 - kept open across writes
        if self.fh.tell() == 0:
            self.fh.write(MAGIC)

    def write(self, rec: Record) -> None:
        """Append one record and flush it."""
        body = msgpack.packb([rec.received_ms, rec.qos, rec.retain, rec.topic, rec.payload])
        self.fh.write(_LEN.pack(len(body)) + body)
        self.fh.flush()
        self.count += 1
        if self.fh.tell() >= self.max_bytes:
            self.fh.close()
            self.part += 1
            self._open()

    def close(self) -> None:
        """Close the current file."""
        self.fh.close()


def parts(path: Path) -> list[Path]:
    """FILE and its rotated parts, in order."""
    out = [path]
    n = 1
    while (p := path.with_name(f"{path.name}.{n}")).exists():
        out.append(p)
        n += 1
    return out


def read(path: Path) -> Iterator[Record]:
    """Every complete record of FILE and its rotated parts."""
    for part in parts(path):
        with open(part, "rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                raise ValueError(f"{part} is not a capture file (bad header)")
            while True:
                head = fh.read(4)
                if len(head) < 4:
                    break
                (n,) = _LEN.unpack(head)
                body = fh.read(n)
                if len(body) < n:
                    break  # being written right now
                ms, qos, retain, topic, payload = msgpack.unpackb(body)
                yield Record(ms, qos, retain, topic, payload)


async def capture(client: aiomqtt.Client, topics: list[str], writer: CaptureWriter,
                  stop_after: float | None = None) -> None:
    """Record what the broker delivers for ``topics`` until cancelled (or ``stop_after`` s)."""
    for t in topics:
        await client.subscribe(t, qos=1)

    async def loop() -> None:
        async for m in client.messages:
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            writer.write(Record(int(time.time() * 1000), m.qos, m.retain, m.topic.value,
                                payload))

    if stop_after is None:
        await loop()
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(loop(), stop_after)
