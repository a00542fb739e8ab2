"""One MQTT 5 connection as an asyncio protocol: packets split out of the byte stream,
outgoing packets written together once per event-loop pass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from gateway.mqtt import codec as mc
from gateway.mqtt.errors import MqttError

OnPublish = Callable[[str, int, int, bytes], None]  # topic, qos, packet id, payload


class Wire(asyncio.Protocol):
    """Parses what the broker sends and buffers what we send."""

    def __init__(self, on_publish: OnPublish) -> None:
        loop = asyncio.get_running_loop()
        self.on_publish = on_publish
        self.connack: asyncio.Future[mc.Connack] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[int]]] = {}
        self._buf = bytearray()
        self._out = bytearray()
        self._flush_pending = False
        self._transport: asyncio.Transport | None = None
        self._sent = False
        self._ping_outstanding = False
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(MqttError(f"connection closed: {exc or 'by the broker'}"))

    def _fail(self, exc: Exception) -> None:
        futures: list[asyncio.Future[Any]] = [self.connack, self.closed, *self._subacks.values()]
        for fut in futures:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: no "never retrieved" warning for spare futures
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        try:
            while end - pos >= 2:
                first = buf[pos]
                if buf[pos + 1] < 0x80:
                    length, i = buf[pos + 1], pos + 2
                else:
                    try:
                        length, i = mc.read_varint(buf, pos + 1)
                    except IndexError:
                        break
                if i + length > end:
                    break
                if first >> 4 == mc.PUBLISH:
                    self.on_publish(*mc.parse_publish(first & 0x0F, buf[i:i + length]))
                else:
                    self._control(first >> 4, bytes(buf[i:i + length]))
                pos = i + length
        except (mc.ProtocolError, IndexError, ValueError) as exc:
            self._fail(MqttError(f"protocol error from the broker: {exc}"))
        del buf[:pos]

    def _control(self, kind: int, body: bytes) -> None:
        if kind == mc.CONNACK and not self.connack.done():
            self.connack.set_result(mc.parse_connack(body))
        elif kind == mc.SUBACK:
            packet_id, codes = mc.parse_suback(body)
            fut = self._subacks.get(packet_id)
            if fut is not None and not fut.done():
                fut.set_result(codes)
        elif kind == mc.PINGRESP:
            self._ping_outstanding = False
        elif kind == mc.PUBACK:
            pass  # of a QoS 1 publish of ours: nothing waits for it
        elif kind == mc.DISCONNECT:
            code = body[0] if body else 0
            self._fail(MqttError(f"broker disconnected us: {mc.reason_text(code)}"))
        else:
            raise mc.ProtocolError(f"unexpected packet type {kind}")

    def suback(self, packet_id: int) -> asyncio.Future[list[int]]:
        """The future SUBACK reason codes of a SUBSCRIBE."""
        fut = self._subacks[packet_id] = asyncio.get_running_loop().create_future()
        return fut

    def send(self, packet: bytes) -> None:
        """Queue a packet; everything queued in one loop pass leaves in one write."""
        self._out += packet
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._transport is not None and not self._transport.is_closing() and self._out:
            self._transport.write(bytes(self._out))
            self._sent = True
        self._out.clear()

    def pause(self) -> None:
        """Stop reading from the socket (TCP backpressure to the broker)."""
        if not self.paused and self._transport is not None:
            self.paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        """Read again."""
        if self.paused and self._transport is not None:
            self.paused = False
            self._transport.resume_reading()

    async def serve(self, keepalive: int) -> None:
        """Ping when idle until the connection ends; always raises MqttError at the end."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.closed), keepalive / 2)
                if self.closed.done():
                    break
                if self._ping_outstanding:
                    self._fail(MqttError(f"no PINGRESP within {keepalive} s: broker gone"))
                    break
                if not self._sent:
                    self._ping_outstanding = True
                    self.send(mc.PINGREQ_PACKET)
                self._sent = False
        finally:
            if not self.closed.done():
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.write(mc.DISCONNECT_PACKET)  # flushed by the close
                self._fail(MqttError("connection closed by the gateway"))
        await self.closed
