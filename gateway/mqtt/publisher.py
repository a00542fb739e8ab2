"""Publish a stream of messages to a broker with QoS 1, paced, with a bounded window of
unacknowledged publishes (replay of captures to a broker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiomqtt

from gateway.mqtt.errors import MqttError
from gateway.settings import Settings

WINDOW = 200  # publishes awaiting their PUBACK at once


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: when (ms, on the stream's own clock), where and what."""

    send_ms: int
    topic: str
    payload: bytes


async def publish_all(settings: Settings, messages: Iterable[Outgoing], speed: float = 0.0,
                      on_sent: Callable[[], None] | None = None) -> int:
    """Publish everything with QoS 1 and wait for every PUBACK. ``speed`` > 0 keeps the
    stream's relative timing, that many times faster; 0 sends as fast as the window allows.
    Returns the number published."""
    host, port, user, password, _tls = settings.mqtt_parts
    window = asyncio.Semaphore(WINDOW)
    sent = 0
    try:
        async with aiomqtt.Client(host, port, username=user, password=password,
                                  identifier="", max_inflight_messages=WINDOW) as client, \
                asyncio.TaskGroup() as tg:

            async def one(msg: Outgoing) -> None:
                try:
                    await client.publish(msg.topic, msg.payload, qos=1)
                finally:
                    window.release()
                if on_sent is not None:
                    on_sent()

            started = time.monotonic()
            first_ms: int | None = None
            for msg in messages:
                if speed > 0:
                    first_ms = msg.send_ms if first_ms is None else first_ms
                    pause = started + (msg.send_ms - first_ms) / 1000 / speed - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                await window.acquire()
                tg.create_task(one(msg))
                sent += 1
    except aiomqtt.MqttError as exc:
        raise MqttError(f"publishing to {host}:{port} failed after {sent} messages: {exc}") \
            from exc
    return sent
