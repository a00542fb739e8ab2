"""MQTT in, the fast way: a persistent QoS 1 session (MQTT 5, or 3.1.1) on a plain asyncio
protocol.

Why not aiomqtt here: paho-mqtt (under aiomqtt) costs about 150 µs of Python per received
and acknowledged message on this machine (three ``recv`` calls per packet, a Properties
object per PUBLISH, one socket write and one self-pipe wake-up per PUBACK); this protocol
costs about 9 µs (buffered parsing, PUBACKs written together once per event-loop pass).
See benchmarks/README.md. The aiomqtt source remains (``--mqtt-client aiomqtt``). What
the client implements of each specification is listed in docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from decoders.registry import CONTRACT_TOPIC, announcement
from decoders.sanity import MAX_PAYLOAD_BYTES
from gateway.mqtt import codec as mc
from gateway.mqtt.base import SESSION_EXPIRY_S, Inbound, Source, tls_context, topic_filters
from gateway.mqtt.errors import ConnectionRefused, MqttError, SubscriptionRefused
from gateway.mqtt.wire import Wire

log = logging.getLogger(__name__)
KEEPALIVE_S = 30
TIMEOUT_S = 10.0
T = TypeVar("T")
# what we accept from the broker: payloads over the decoders' limit still arrive (and
# become "oversize" dead letters) up to 4 times that; larger ones the broker drops
MAX_PACKET_BYTES = 4 * MAX_PAYLOAD_BYTES
LEVELS = {"5": mc.PROTOCOL_V5, "3.1.1": mc.PROTOCOL_V311}
NAMES = {mc.PROTOCOL_V5: "5", mc.PROTOCOL_V311: "3.1.1"}


class ProtocolRefused(ConnectionRefused):
    """The broker does not speak the MQTT version we asked for."""


class NativeMqttSource(Source):
    """The native source (the default)."""

    _got_connack = False

    def _level(self) -> int:
        wanted = self.settings.mqtt_protocol
        if wanted == "auto":
            return mc.PROTOCOL_V311 if self.protocol == "3.1.1" else mc.PROTOCOL_V5
        return LEVELS[wanted]

    async def _session(self) -> None:
        level = self._level()
        self._got_connack = False
        try:
            await self._connect(level)
        except (MqttError, TimeoutError) as exc:
            if not self._falls_back(level, exc):
                raise
            log.warning("the broker refused MQTT 5 (%s); falling back to MQTT 3.1.1",
                        exc or type(exc).__name__)
            self.protocol = "3.1.1"
            await self._connect(mc.PROTOCOL_V311)

    def _falls_back(self, level: int, exc: BaseException) -> bool:
        """With ``auto``: an MQTT 5 CONNECT refused as an unsupported version, or answered
        by closing the connection (RabbitMQ 3.10) or by silence (amqtt) instead of a
        CONNACK."""
        if self.settings.mqtt_protocol != "auto" or level != mc.PROTOCOL_V5:
            return False
        if isinstance(exc, ProtocolRefused):
            return True
        return not self._got_connack and not isinstance(exc, ConnectionRefused)

    async def _connect(self, level: int) -> None:
        s = self.settings
        host, port, user, password, tls = s.mqtt_parts
        loop = asyncio.get_running_loop()
        wire_box: list[Wire] = []
        acks = self.sequencer(lambda mid, qos: self._ack(wire_box[0], mid, qos))
        received, retained = self.metrics.received, self.metrics.retained_skipped
        deliver, budget = self.deliver, self.budget
        # QoS 0 is outside the broker's window, and the window counts messages, not bytes:
        # stop reading past twice the window or past the byte budget (over every connection)
        limit, byte_limit = 2 * s.inflight, s.inflight_bytes

        def on_publish(topic: str, qos: int, mid: int, payload: bytes, retain: bool) -> None:
            if retain:
                # a retained copy replayed at subscribe (MQTT 3.1.1 [MQTT-3.3.1-8]; MQTT 5
                # with Retain Handling 2 sends none): not fresh data, acknowledged unread
                retained.inc()
                acks.skip(mid, qos)
                return
            received.inc()
            deliver(Inbound(topic, payload, int(time.time() * 1000), mid, qos,
                            acks.register(len(payload)), acks))
            if budget.messages > limit or budget.bytes > byte_limit:
                wire_box[0].pause()

        transport, wire = await asyncio.wait_for(loop.create_connection(
            lambda: Wire(on_publish, level, MAX_PACKET_BYTES if level == mc.PROTOCOL_V5
                         else 0), host, port, ssl=tls_context(s) if tls else None), TIMEOUT_S)
        wire_box.append(wire)
        try:
            keepalive = await self._handshake(wire, level, user, password)
            self.protocol = NAMES[level]
            self.metrics.reconnects.inc()
            self.connected.set()
            log.info("subscribed to %s as %s (native MQTT %s client)", topic_filters(s),
                     s.effective_client_id, self.protocol)
            if budget.messages > limit or budget.bytes > byte_limit:
                wire.pause()  # the pipeline still holds what the last connection delivered
            await wire.serve(keepalive)
        finally:
            transport.close()

    async def _handshake(self, wire: Wire, level: int, user: str | None,
                         password: str | None) -> int:
        """CONNECT and SUBSCRIBE; returns the keep-alive the broker wants."""
        s = self.settings
        wire.send(mc.connect_packet(s.effective_client_id, KEEPALIVE_S, False,
                                    SESSION_EXPIRY_S, s.inflight, user, password, level,
                                    MAX_PACKET_BYTES))
        connack = await _within(wire, wire.connack, "CONNACK")
        self._got_connack = True
        if connack.reason >= 0x80:
            why = connack.props.get(mc.PROP_REASON_STRING, "")
            moved = connack.props.get(mc.PROP_SERVER_REFERENCE, "")
            text = (f"broker refused the connection: {mc.reason_text(connack.reason)}"
                    + (f" ({why})" if why else "") + (f"; use server {moved}" if moved else ""))
            if connack.reason == 0x84:  # unsupported protocol version
                raise ProtocolRefused(text)
            raise ConnectionRefused(text)
        if connack.props.get(mc.PROP_MAXIMUM_QOS) == 0:
            raise SubscriptionRefused("the broker's Maximum QoS is 0: delivery would be at"
                                      " most once and lose data; allow QoS 1 for the gateway")
        self.check_session(connack.session_present)
        keepalive = connack.props.get(mc.PROP_SERVER_KEEP_ALIVE, KEEPALIVE_S)
        filters = topic_filters(s)
        wire.send(mc.subscribe_packet(1, filters, 1, level))
        codes = await _within(wire, wire.suback(1), "SUBACK")
        refused = [f"{f}: {mc.reason_text(c)}" for f, c in zip(filters, codes, strict=False)
                   if c >= 0x80]
        if refused or len(codes) != len(filters):
            raise SubscriptionRefused(f"subscription refused: {'; '.join(refused) or codes}")
        downgraded = [f for f, c in zip(filters, codes, strict=True) if c < 1]
        if downgraded:
            raise SubscriptionRefused(f"the broker granted QoS 0 for {', '.join(downgraded)}:"
                                      " delivery would be at most once and lose data")
        retain = connack.props.get(mc.PROP_RETAIN_AVAILABLE, 1) != 0  # [MQTT-3.2.2-14]
        wire.send(mc.publish_packet(CONTRACT_TOPIC, announcement(), 0, qos=0, retain=retain))
        return keepalive if isinstance(keepalive, int) and keepalive > 0 else KEEPALIVE_S

    def _ack(self, wire: Wire, mid: int, qos: int) -> None:
        if qos:
            wire.send(mc.puback_packet(mid))
        if wire.paused and self.budget.messages <= self.settings.inflight \
                and self.budget.bytes <= self.settings.inflight_bytes:
            wire.resume()


async def _within(wire: Wire, answer: Awaitable[T], packet: str) -> T:
    """The broker's answer within ``TIMEOUT_S`` of reading, or a TimeoutError naming the
    packet. With a session, the broker sends the queued messages right after CONNACK and
    the SUBACK behind them; when the pipeline is slow, our own backpressure stops reading
    before the SUBACK: time the wire spent paused is ours, not the broker's silence."""
    waiting = asyncio.ensure_future(answer)
    while True:
        pauses = wire.pauses
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), TIMEOUT_S)
        except TimeoutError:
            if not wire.paused and wire.pauses == pauses:
                waiting.cancel()
                raise TimeoutError(f"no {packet} from the broker within {TIMEOUT_S:.0f} s"
                                   " of reading") from None
