"""MQTT in: a persistent QoS 1 session with manual acknowledgements.

Two clients serve it: the native asyncio one (``gateway/mqtt_native.py``, the default, for
speed) and aiomqtt (``--mqtt-client aiomqtt``). aiomqtt does not expose paho-mqtt 2's manual
acks, so we switch them on through the paho client aiomqtt wraps (``Client._client``); this
module is the only place that touches it. The broker never has more than ``inflight``
unacknowledged messages out to us (MQTT 5 Receive Maximum), which is what bounds the
gateway's memory: no ack, no more messages.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from decoders.registry import CONTRACT_TOPIC, SUBSCRIPTIONS, announcement
from gateway.acks import AckSequencer
from gateway.metrics import Metrics
from gateway.settings import Settings

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 86_400
MqttError = aiomqtt.MqttError


@dataclass(slots=True)
class Inbound:
    """A received message waiting for its batch to commit."""

    topic: str
    payload: bytes
    received_ms: int
    mid: int
    qos: int
    index: int
    acks: AckSequencer

    def ack(self) -> None:
        """Mark committed; the PUBACK leaves once every earlier message is committed too."""
        self.acks.done(self.index, self.mid, self.qos, len(self.payload))


def topic_filters(settings: Settings) -> list[str]:
    """The subscriptions, through ``$share/<group>/`` when replicas share the load."""
    prefix = f"$share/{settings.shared_group}/" if settings.shared_group else ""
    return [prefix + t for t in SUBSCRIPTIONS]


def tls_context(settings: Settings) -> ssl.SSLContext:
    """TLS to the broker: the configured CA (else the system's) and client certificate."""
    ctx = ssl.create_default_context(cafile=settings.mqtt_ca_file or None)
    if settings.mqtt_cert_file:
        ctx.load_cert_chain(settings.mqtt_cert_file, settings.mqtt_key_file)
    return ctx


def make_client(settings: Settings, persistent: bool = True) -> aiomqtt.Client:
    """An aiomqtt client on a persistent MQTT 5 session, with acks left to us; with
    ``persistent=False`` a plain auto-acking client without session (capture)."""
    host, port, user, password, tls = settings.mqtt_parts
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


class Source:
    """Keeps one broker connection up and hands every message to ``deliver``; a subclass
    supplies ``_session`` (one connection's life, ending in an exception)."""

    def __init__(self, settings: Settings, metrics: Metrics,
                 deliver: Callable[[Inbound], None]) -> None:
        self.settings = settings
        self.metrics = metrics
        self.deliver = deliver
        self.connected = asyncio.Event()
        self._acks: AckSequencer | None = None

    @property
    def outstanding(self) -> int:
        """Messages received on the current connection and not yet acknowledged."""
        return self._acks.outstanding if self._acks else 0

    @property
    def held_bytes(self) -> int:
        """Payload bytes received on the current connection and not yet committed."""
        return self._acks.held_bytes if self._acks else 0

    async def run(self) -> None:
        """Connect, subscribe, receive; reconnect with backoff forever."""
        delay = 0.5
        while True:
            try:
                await self._session()
            except (MqttError, OSError, TimeoutError) as exc:
                log.warning("broker connection lost: %s; retrying in %.1fs", exc, delay)
            finally:
                if self.connected.is_set():
                    delay = 0.5  # it worked for a while: start backing off afresh
                self.connected.clear()
                if self._acks:
                    self._acks.closed = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _session(self) -> None:
        raise NotImplementedError


class MqttSource(Source):
    """The aiomqtt source."""

    async def _session(self) -> None:
        client = make_client(self.settings)
        async with client:
            paho = client._client
            acks = self._acks = AckSequencer(lambda mid, qos: void(paho.ack(mid, qos)))
            for topic in topic_filters(self.settings):
                await client.subscribe(topic, qos=1)
            await client.publish(CONTRACT_TOPIC, announcement(), qos=0, retain=True)
            self.metrics.reconnects.inc()
            self.connected.set()
            log.info("subscribed to %s as %s", topic_filters(self.settings),
                     self.settings.effective_client_id)
            async for m in client.messages:
                payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                self.metrics.received.inc()
                self.deliver(Inbound(m.topic.value, payload, int(time.time() * 1000), m.mid,
                                     m.qos, acks.register(len(payload)), acks))
