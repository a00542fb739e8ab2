"""MQTT in: a persistent QoS 1 session with manual acknowledgements.

This module is the aiomqtt client (``--mqtt-client aiomqtt``); the native asyncio one
(``gateway/mqtt/native.py``) is the default, for speed. aiomqtt does not expose paho-mqtt
2's manual acks, so we switch them on through the paho client aiomqtt wraps
(``Client._client``); this module is the only place that touches it. The broker never
has more than ``inflight`` unacknowledged messages out to us (MQTT 5 Receive Maximum),
which is what bounds the gateway's memory: no ack, no more messages.
"""

from __future__ import annotations

import logging
import time

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from decoders.registry import CONTRACT_TOPIC, announcement
from gateway.mqtt.base import SESSION_EXPIRY_S, Inbound, Source, tls_context, topic_filters
from gateway.mqtt.errors import MqttError, SubscriptionRefused
from gateway.settings import Settings

log = logging.getLogger(__name__)


def make_client(settings: Settings, persistent: bool = True) -> aiomqtt.Client:
    """An aiomqtt client on a persistent MQTT 5 session, with acks left to us; with
    ``persistent=False`` a plain auto-acking client without session (capture)."""
    host, port, user, password, tls = settings.mqtt_parts
    if settings.mqtt_protocol == "3.1.1":
        client = aiomqtt.Client(
            host, port, identifier=settings.effective_client_id,
            protocol=aiomqtt.ProtocolVersion.V311, clean_session=not persistent,
            username=user, password=password,
            tls_context=tls_context(settings) if tls else None, keepalive=30)
        client._client.manual_ack_set(persistent)
        return client
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    props.ReceiveMaximum = settings.inflight
    client = aiomqtt.Client(
        host, port, identifier=settings.effective_client_id,
        protocol=aiomqtt.ProtocolVersion.V5, clean_start=not persistent, properties=props,
        username=user, password=password, tls_context=tls_context(settings) if tls else None,
        keepalive=30,
    )
    client._client.manual_ack_set(persistent)
    return client


def void(_: object) -> None:
    """Discard a return value (paho's ack returns an error code that only says
    'not connected', which the broker's redelivery already covers)."""


class AiomqttSource(Source):
    """The aiomqtt source; aiomqtt's errors leave as this package's ``MqttError``."""

    async def _session(self) -> None:
        try:
            await self._serve()
        except aiomqtt.MqttError as exc:
            raise MqttError(str(exc)) from exc

    async def _serve(self) -> None:
        client = make_client(self.settings)
        async with client:
            paho = client._client
            acks = self.sequencer(lambda mid, qos: void(paho.ack(mid, qos)))
            for topic in topic_filters(self.settings):
                granted = await client.subscribe(topic, qos=1)
                codes = [getattr(g, "value", g) for g in granted]
                if any(c >= 0x80 for c in codes):
                    raise SubscriptionRefused(f"subscription refused for {topic}: {codes}")
                if any(c < 1 for c in codes):
                    raise SubscriptionRefused(f"the broker granted QoS 0 for {topic}:"
                                              " delivery would be at most once and lose data")
            await client.publish(CONTRACT_TOPIC, announcement(), qos=0, retain=True)
            self.protocol = "3.1.1" if self.settings.mqtt_protocol == "3.1.1" else "5"
            self.metrics.reconnects.inc()
            self.connected.set()
            log.info("subscribed to %s as %s", topic_filters(self.settings),
                     self.settings.effective_client_id)
            async for m in client.messages:
                if m.retain:  # a retained copy replayed at subscribe: not fresh data
                    self.metrics.retained_skipped.inc()
                    acks.skip(m.mid, m.qos)
                    continue
                payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                self.metrics.received.inc()
                self.deliver(Inbound(m.topic.value, payload, int(time.time() * 1000), m.mid,
                                     m.qos, acks.register(len(payload)), acks))
