"""A scripted MQTT broker on loopback for conformance tests: each test says, packet by
packet, what the broker answers, and checks what the client sent and how it reacted."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.mqtt import codec as mc


@dataclass
class Packet:
    """One packet the client sent."""

    first: int
    body: bytes

    @property
    def kind(self) -> int:
        return self.first >> 4


@dataclass
class Conn:
    """One client connection as the broker sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    sent_by_client: list[Packet] = field(default_factory=list)

    async def packet(self, within_s: float = 5.0) -> Packet:
        """The next packet the client sends."""
        async with asyncio.timeout(within_s):
            first = (await self.reader.readexactly(1))[0]
            length, shift = 0, 0
            while True:
                b = (await self.reader.readexactly(1))[0]
                length |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            p = Packet(first, await self.reader.readexactly(length))
        self.sent_by_client.append(p)
        return p

    async def expect(self, kind: int) -> Packet:
        """The next packet that is not a PINGREQ, checked to be ``kind``."""
        while True:
            p = await self.packet()
            if p.kind == mc.PINGREQ:
                self.send(b"\xd0\x00")
                continue
            assert p.kind == kind, f"expected packet type {kind}, got {p.kind}"
            return p

    def send(self, raw: bytes) -> None:
        self.writer.write(raw)

    async def closed(self, within_s: float = 5.0) -> bool:
        """Whether the client closes the connection within ``within_s`` seconds."""
        try:
            async with asyncio.timeout(within_s):
                while await self.reader.read(65536):
                    pass
            return True
        except TimeoutError:
            return False


Script = Callable[[Conn], Awaitable[None]]


class FakeBroker:
    """Accepts connections and runs ``script`` on each (in order: ``scripts[n]`` for the
    n-th connection, the last one for all later ones)."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = scripts
        self.conns: list[Conn] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeBroker:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        for c in self.conns:
            c.writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"mqtt://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        self.conns.append(conn)
        script = self.scripts[min(len(self.conns), len(self.scripts)) - 1]
        try:
            await script(conn)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()


def packet(kind: int, body: bytes, flags: int = 0) -> bytes:
    return bytes([kind << 4 | flags]) + mc.varint(len(body)) + body


def connack(session_present: bool = False, reason: int = 0, props: bytes = b"",
            v5: bool = True) -> bytes:
    body = bytes([int(session_present), reason])
    if v5:
        body += mc.varint(len(props)) + props
    return packet(mc.CONNACK, body)


def suback(packet_id: int, codes: list[int], v5: bool = True) -> bytes:
    return packet(mc.SUBACK, struct.pack(">H", packet_id) + (b"\x00" if v5 else b"")
                  + bytes(codes))


def publish(topic: bytes, payload: bytes, mid: int = 1, qos: int = 1, retain: bool = False,
            props: bytes = b"", v5: bool = True) -> bytes:
    body = struct.pack(">H", len(topic)) + topic + (struct.pack(">H", mid) if qos else b"")
    if v5:
        body += mc.varint(len(props)) + props
    return packet(mc.PUBLISH, body + payload, qos << 1 | int(retain))


def connect_level(p: Packet) -> int:
    """The protocol level of a CONNECT."""
    return p.body[6]


async def accept(conn: Conn, codes: list[int] | None = None, props: bytes = b"",
                 session_present: bool = False) -> Packet:
    """CONNECT -> CONNACK (v5 or 3.1.1 as the client asked), SUBSCRIBE -> SUBACK; returns
    the SUBSCRIBE."""
    p = await conn.expect(mc.CONNECT)
    v5 = connect_level(p) == mc.PROTOCOL_V5
    conn.send(connack(session_present, 0, props, v5))
    sub = await conn.expect(mc.SUBSCRIBE)
    n = _filters(sub, v5)
    conn.send(suback(struct.unpack(">H", sub.body[:2])[0], codes or [1] * n, v5))
    return sub


def _filters(sub: Packet, v5: bool) -> int:
    i = 2
    if v5:
        plen, i = mc.read_varint(sub.body, 2)
        i += plen
    n = 0
    while i < len(sub.body):
        i += 2 + struct.unpack(">H", sub.body[i:i + 2])[0] + 1
        n += 1
    return n


async def hold(conn: Conn) -> None:
    """Keep the connection open, answering pings, until the client leaves."""
    while True:
        p = await conn.packet(within_s=60)
        if p.kind == mc.PINGREQ:
            conn.send(b"\xd0\x00")
