"""What both MQTT clients share: the received message, the reconnect loop, TLS and the
topic filters. Neither client imports the other; each implements ``Source._session``."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from decoders.registry import SUBSCRIPTIONS
from gateway.metrics import Metrics
from gateway.mqtt.acks import AckSequencer, Budget
from gateway.mqtt.errors import MqttError
from gateway.settings import Settings

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 86_400
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 10.0


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
        metrics.broker_connected.set_function(lambda: float(self.connected.is_set()))
        self._acks: AckSequencer | None = None
        self.budget = Budget()  # shared by every connection of this source
        self.protocol = ""  # the MQTT version of the current or last connection
        self.last_error = ""  # why the last connection ended or failed
        self.had_session = False  # a connection of this process has held the session
        self.session_lost = 0  # reconnects that found the broker had dropped the session
        self.session_lost_at = 0.0

    @property
    def outstanding(self) -> int:
        """Messages received on the current connection and not yet acknowledged."""
        return self._acks.outstanding if self._acks else 0

    @property
    def held_bytes(self) -> int:
        """Payload bytes received (on any connection) and not yet committed."""
        return self.budget.bytes

    def sequencer(self, send_ack: Callable[[int, int], None]) -> AckSequencer:
        """A new connection's ack sequencer, on this source's shared budget."""
        self._acks = AckSequencer(send_ack, self.budget)
        return self._acks

    def check_session(self, session_present: bool) -> None:
        """A reconnect that expected the broker to hold our session and found none: the
        broker lost what it had queued for us (restarted without persistence, or expired
        the session). Loud: error log, counter, health."""
        if self.had_session and not session_present:
            self.session_lost += 1
            self.session_lost_at = time.time()
            self.metrics.session_lost.inc()
            log.error("the broker did not keep the MQTT session of %s: messages it held for"
                      " the gateway while it was disconnected are lost (broker restarted"
                      " without persistence, or the session expired); see docs/operations.md",
                      self.settings.effective_client_id)
        elif not session_present:
            log.info("no session on the broker for %s yet (first start, or expired)",
                     self.settings.effective_client_id)
        self.had_session = True

    async def run(self) -> None:
        """Connect, subscribe, receive; reconnect at once after the first failure, then
        with exponential backoff (0.5 s doubling to 10 s) and full jitter, forever. A
        connection counts as having worked (the backoff starts afresh) once it lasted
        longer than the longest backoff, so a broker that accepts and then drops us at once
        is not hammered."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self._session()
            except (MqttError, OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else \
                    type(exc).__name__
            finally:
                if self.connected.is_set() and time.monotonic() - started > BACKOFF_MAX_S:
                    failures = 0  # it worked for a while: start backing off afresh
                self.connected.clear()
                if self._acks:
                    self._acks.closed = True
            delay = 0.0 if failures == 0 else random.uniform(
                0, min(BACKOFF_FIRST_S * 2 ** (failures - 1), BACKOFF_MAX_S))
            failures += 1
            log.warning("broker connection lost: %s; retrying in %.1fs", self.last_error,
                        delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        raise NotImplementedError
