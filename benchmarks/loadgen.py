"""A load generator: publishes a slice of a workload at QoS 1 as fast as the broker takes
it (or at a fixed rate), from its own process, so several can run side by side.

    python -m benchmarks.loadgen URL w1|w2|w2-live PART PARTS [--rate MSG_PER_S]
        [--seconds S] [--vehicles N] [--windows N] [--messages N]

Prints one JSON line: messages sent and acknowledged, seconds. It speaks MQTT 5 with the
gateway's own codec over a plain asyncio connection: paho-mqtt publishes about ten times
slower on this machine and would measure the publisher instead of the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

from benchmarks.workloads import W1, W2, Message, live_w2
from gateway.mqtt import codec as mc

WINDOW = 500  # QoS 1 publishes awaiting their PUBACK


class PublisherProtocol(asyncio.Protocol):
    """Counts PUBACKs; ``room`` holds one slot per publish awaiting its PUBACK."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.acked = 0
        self.connack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.room = asyncio.Semaphore(WINDOW)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 2:
            length, i = mc.read_varint(self.buf, 1)
            if len(self.buf) < i + length:
                break
            kind = self.buf[0] >> 4
            if kind == mc.PUBACK:
                self.acked += 1
                self.room.release()
            elif kind == mc.CONNACK and not self.connack.done():
                self.connack.set_result(None)
            del self.buf[:i + length]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connack.done():
            self.connack.set_exception(ConnectionError(str(exc)))


async def connect(url: str) -> tuple[asyncio.Transport, PublisherProtocol]:
    """An MQTT 5 connection with a clean session, ready to publish."""
    u = urlsplit(url)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(PublisherProtocol,
                                                      u.hostname or "127.0.0.1", u.port or 1883)
    transport.write(mc.connect_packet(f"loadgen-{uuid.uuid4().hex[:8]}", 60, True, 0, 65535))
    await proto.connack
    return transport, proto


async def publish(url: str, messages: Iterator[Message], rate: float | None = None) -> dict[
        str, float]:
    """Send everything at QoS 1; returns counts and seconds (until the last PUBACK)."""
    transport, proto = await connect(url)
    started = time.perf_counter()
    sent = 0
    for topic, payload in messages:
        if rate:
            pause = started + sent / rate - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
        await proto.room.acquire()
        transport.write(mc.publish_packet(topic, payload, sent % 65535 + 1))
        sent += 1
    for _ in range(WINDOW):  # every slot back: every PUBACK in
        await asyncio.wait_for(proto.room.acquire(), 120)
    seconds = time.perf_counter() - started
    transport.write(mc.DISCONNECT_PACKET)
    transport.close()
    return {"sent": sent, "acked": proto.acked, "seconds": seconds}


def _live(w: W2, part: int, parts: int, seconds: float, rate: float) -> Iterator[Message]:
    """Messages made at send time, ``rate`` per second for ``seconds``."""
    for k in range(int(seconds * rate)):
        yield live_w2(w, k * parts + part, int(time.time() * 1000))


def main() -> None:
    """Parse arguments, publish, print the figures."""
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("workload", choices=["w1", "w2", "w2-live"])
    p.add_argument("part", type=int)
    p.add_argument("parts", type=int)
    p.add_argument("--rate", type=float, default=None, help="messages per second (default max)")
    p.add_argument("--seconds", type=float, default=20.0, help="w2-live: how long")
    p.add_argument("--vehicles", type=int, default=10_000)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--base-ms", type=int, default=0)
    a = p.parse_args()
    msgs: Iterator[Message]
    if a.workload == "w1":  # made before the clock starts: we measure sending, not making
        msgs = iter(list(W1(a.messages, base_ms=a.base_ms).slice(a.part, a.parts)))
    elif a.workload == "w2":
        msgs = iter(list(W2(a.vehicles, a.windows, a.base_ms).slice(a.part, a.parts)))
    else:
        assert a.rate, "w2-live needs --rate"
        msgs = _live(W2(a.vehicles), a.part, a.parts, a.seconds, a.rate)
    print(json.dumps(asyncio.run(publish(a.url, msgs, a.rate))), flush=True)


if __name__ == "__main__":
    main()
