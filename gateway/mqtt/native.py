"""MQTT in, the fast way: a persistent MQTT 5 QoS 1 session on a plain asyncio protocol.

Why not aiomqtt here: paho-mqtt (under aiomqtt) costs about 150 µs of Python per received
and acknowledged message on this machine (three ``recv`` calls per packet, a Properties
object per PUBLISH, one socket write and one self-pipe wake-up per PUBACK); this protocol
costs about 9 µs (buffered parsing, PUBACKs written together once per event-loop pass).
See benchmarks/README.md. The aiomqtt source remains (``--mqtt-client aiomqtt``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from decoders.registry import CONTRACT_TOPIC, announcement
from gateway.mqtt import codec as mc
from gateway.mqtt.acks import AckSequencer
from gateway.mqtt.base import SESSION_EXPIRY_S, Inbound, Source, tls_context, topic_filters
from gateway.mqtt.errors import ConnectionRefused, SubscriptionRefused
from gateway.mqtt.wire import Wire

log = logging.getLogger(__name__)
KEEPALIVE_S = 30
TIMEOUT_S = 10.0


class NativeMqttSource(Source):
    """The native source (the default)."""

    async def _session(self) -> None:
        s = self.settings
        host, port, user, password, tls = s.mqtt_parts
        loop = asyncio.get_running_loop()
        wire_box: list[Wire] = []
        acks = self._acks = AckSequencer(lambda mid, qos: self._ack(wire_box[0], mid, qos))
        received = self.metrics.received
        deliver = self.deliver
        # QoS 0 is outside the broker's window, and the window counts messages, not bytes:
        # stop reading past twice the window or past the byte budget
        limit, budget = 2 * s.inflight, s.inflight_bytes

        def on_publish(topic: str, qos: int, mid: int, payload: bytes) -> None:
            received.inc()
            deliver(Inbound(topic, payload, int(time.time() * 1000), mid, qos,
                            acks.register(len(payload)), acks))
            if acks.outstanding > limit or acks.held_bytes > budget:
                wire_box[0].pause()

        transport, wire = await asyncio.wait_for(loop.create_connection(
            lambda: Wire(on_publish), host, port,
            ssl=tls_context(s) if tls else None), TIMEOUT_S)
        wire_box.append(wire)
        try:
            keepalive = await self._handshake(wire, user, password)
            self.metrics.reconnects.inc()
            self.connected.set()
            log.info("subscribed to %s as %s (native MQTT 5 client)", topic_filters(s),
                     s.effective_client_id)
            await wire.serve(keepalive)
        finally:
            transport.close()

    async def _handshake(self, wire: Wire, user: str | None, password: str | None) -> int:
        """CONNECT and SUBSCRIBE; returns the keep-alive the broker wants."""
        s = self.settings
        wire.send(mc.connect_packet(s.effective_client_id, KEEPALIVE_S, False,
                                    SESSION_EXPIRY_S, s.inflight, user, password))
        connack = await asyncio.wait_for(wire.connack, TIMEOUT_S)
        if connack.reason >= 0x80:
            why = connack.props.get(mc.PROP_REASON_STRING, "")
            raise ConnectionRefused(
                f"broker refused the connection: {mc.reason_text(connack.reason)} {why}".rstrip())
        keepalive = connack.props.get(mc.PROP_SERVER_KEEP_ALIVE, KEEPALIVE_S)
        filters = topic_filters(s)
        wire.send(mc.subscribe_packet(1, filters))
        codes = await asyncio.wait_for(wire.suback(1), TIMEOUT_S)
        refused = [f"{f}: {mc.reason_text(c)}" for f, c in zip(filters, codes, strict=False)
                   if c >= 0x80]
        if refused or len(codes) != len(filters):
            raise SubscriptionRefused(f"subscription refused: {'; '.join(refused) or codes}")
        wire.send(mc.publish_packet(CONTRACT_TOPIC, announcement(), 0, qos=0, retain=True))
        return keepalive if isinstance(keepalive, int) and keepalive > 0 else KEEPALIVE_S

    def _ack(self, wire: Wire, mid: int, qos: int) -> None:
        if qos:
            wire.send(mc.puback_packet(mid))
        acks = self._acks
        if wire.paused and acks and acks.outstanding <= self.settings.inflight \
                and acks.held_bytes <= self.settings.inflight_bytes:
            wire.resume()
