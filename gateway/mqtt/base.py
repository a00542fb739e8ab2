"""What both MQTT clients share: the received message, the reconnect loop, TLS and the
topic filters. Neither client imports the other; each implements ``Source._session``."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from decoders.registry import SUBSCRIPTIONS
from gateway.metrics import Metrics
from gateway.mqtt.acks import AckSequencer
from gateway.mqtt.errors import MqttError
from gateway.settings import Settings

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 86_400


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
