"""One MQTT connection (5 or 3.1.1) as an asyncio protocol: packets split out of the byte
stream, outgoing packets written together once per event-loop pass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from gateway.mqtt import codec as mc
from gateway.mqtt.errors import BrokerProtocolError, MqttError

OnPublish = Callable[[str, int, int, bytes, bool], None]  # topic, qos, id, payload, retain


class Wire(asyncio.Protocol):
    """Parses what the broker sends and buffers what we send. ``max_packet`` (bytes, 0 =
    the protocol's limit) is what this client announced it accepts: a larger packet is a
    protocol error before it is buffered whole [MQTT-3.1.2-24]."""

    def __init__(self, on_publish: OnPublish, level: int = mc.PROTOCOL_V5,
                 max_packet: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self.on_publish = on_publish
        self.level = level
        self.max_packet = max_packet
        self.connack: asyncio.Future[mc.Connack] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[int]]] = {}
        self._buf = bytearray()
        self._out = bytearray()
        self._flush_pending = False
        self._transport: asyncio.Transport | None = None
        self._sent = False
        self._ping_outstanding = False
        self._paused_since_ping = False
        self.paused = False
        self.pauses = 0  # how often reading stopped: a wait for an answer discounts those

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
        v5 = self.level == mc.PROTOCOL_V5
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
                if self.max_packet and i - pos + length > self.max_packet:
                    raise mc.ProtocolError(f"packet of {i - pos + length} bytes over the"
                                           f" {self.max_packet} we accept [MQTT-3.1.2-24]")
                if i + length > end:
                    break
                if first >> 4 == mc.PUBLISH:
                    if first & 0x06 == 0x04:
                        raise mc.ProtocolError("QoS 2 PUBLISH on a QoS 1 subscription: the"
                                               " broker must not exceed the granted QoS")
                    topic, qos, mid, payload = mc.parse_publish(first & 0x0F,
                                                                buf[i:i + length], v5, True)
                    self.on_publish(topic, qos, mid, payload, bool(first & 0x01))
                else:
                    self._control(first >> 4, bytes(buf[i:i + length]))
                pos = i + length
        except (mc.ProtocolError, IndexError, ValueError) as exc:
            self._fail(BrokerProtocolError(f"protocol error from the broker: {exc}"))
        del buf[:pos]

    def _control(self, kind: int, body: bytes) -> None:
        if kind == mc.CONNACK and not self.connack.done():
            self.connack.set_result(mc.parse_connack(body, self.level))
        elif kind == mc.SUBACK:
            packet_id, codes = mc.parse_suback(body, self.level)
            fut = self._subacks.get(packet_id)
            if fut is not None and not fut.done():
                fut.set_result(codes)
        elif kind == mc.PINGRESP:
            self._ping_outstanding = False
        elif kind == mc.PUBACK:
            pass  # of a QoS 1 publish of ours: nothing waits for it
        elif kind == mc.DISCONNECT and self.level == mc.PROTOCOL_V5:
            self._fail(MqttError(f"broker disconnected us: {mc.parse_disconnect(body)}"))
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
            self.pauses += 1
            self._paused_since_ping = True
            self._transport.pause_reading()

    def resume(self) -> None:
        """Read again."""
        if self.paused and self._transport is not None:
            self.paused = False
            self._transport.resume_reading()

    async def serve(self, keepalive: int) -> None:
        """Ping when idle until the connection ends; always raises MqttError at the end.

        While reading is paused (backpressure) a PINGRESP cannot be read, so a missing
        PINGRESP counts only when reading went on for the whole interval since the ping;
        the PINGREQs still go out, so the broker keeps seeing us alive."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.closed), keepalive / 2)
                if self.closed.done():
                    break
                if self._ping_outstanding and not self._paused_since_ping:
                    self._fail(MqttError(f"no PINGRESP within {keepalive} s: broker gone"))
                    break
                if not self._sent or self.paused:
                    self._ping_outstanding = True
                    self._paused_since_ping = self.paused
                    self.send(mc.PINGREQ_PACKET)
                self._sent = False
        finally:
            if not self.closed.done():
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.write(mc.DISCONNECT_PACKET)  # flushed by the close
                self._fail(MqttError("connection closed by the gateway"))
        await self.closed
