"""Publishes a message stream to the broker with QoS 1, paced by a speed-up factor."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.stream import Outgoing

MAX_UNACKED = 2_000


@dataclass(slots=True)
class PublishStats:
    """What was sent."""

    messages: int = 0
    bytes: int = 0
    seconds: float = 0.0


class Publisher:
    """A paho-mqtt client that waits for PUBACKs and caps how many are outstanding."""

    def __init__(self, mqtt_url: str, client_id: str = "") -> None:
        u = urlsplit(mqtt_url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=True)
        if u.username:
            self.client.username_pw_set(u.username, u.password)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self._acked = 0
        self._cond = threading.Condition()
        self.client.on_publish = self._on_publish
        self.client.connect(u.hostname or "127.0.0.1", u.port or 1883, keepalive=30)
        self.client.loop_start()

    def _on_publish(self, *_: object) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    def publish(self, messages: Iterable[Outgoing], speedup: float = 0.0) -> PublishStats:
        """Send everything; ``speedup`` > 0 keeps relative timing (simulated/real time)."""
        stats = PublishStats()
        started = time.monotonic()
        first_ms: int | None = None
        for msg in messages:
            if speedup > 0:
                first_ms = msg.send_ms if first_ms is None else first_ms
                due = started + (msg.send_ms - first_ms) / 1000 / speedup
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            with self._cond:
                while stats.messages - self._acked >= MAX_UNACKED:
                    self._cond.wait(1.0)
            self.client.publish(msg.topic, msg.payload, qos=1)
            stats.messages += 1
            stats.bytes += len(msg.payload)
        with self._cond:
            deadline = time.monotonic() + 120
            while self._acked < stats.messages and time.monotonic() < deadline:
                self._cond.wait(1.0)
            if self._acked < stats.messages:
                raise TimeoutError(f"{stats.messages - self._acked} publishes not acknowledged")
        stats.seconds = time.monotonic() - started
        return stats

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
