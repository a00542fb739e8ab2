"""Batches received messages, decodes them, writes them, then acknowledges them.

Several writer tasks each own a database connection. A transient storage error keeps the
batch and retries it with backoff; meanwhile nothing is acknowledged, so the broker stops
sending (backpressure) and memory stays bounded by the in-flight window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import psycopg

from decoders.errors import Rejected
from decoders.registry import decode_message, decoder_name_for, needs_model
from gateway.metrics import Metrics
from gateway.mqtt.base import Inbound
from gateway.settings import Settings
from timeseries.batch import Envelope, WriteResult
from timeseries.db import connect
from timeseries.errors import PermanentStorageError, StorageError, classify
from timeseries.schema import Layout
from timeseries.vehicles import ModelLookup
from timeseries.writer import BatchWriter

log = logging.getLogger(__name__)


def decode_raw(topic: str, payload: bytes, received_ms: int, model: str | None = None,
               can_models: str = "") -> Envelope:
    """Decode one message into an envelope; bad input never raises."""
    try:
        readings = decode_message(topic, payload, received_ms, model, can_models)
    except Rejected as exc:
        return Envelope(topic, payload, received_ms, decoder_name_for(topic), None,
                        [exc.rejection])
    return Envelope(topic, payload, received_ms, decoder_name_for(topic), readings,
                    list(readings.rejections))


async def decode_batch(conn: psycopg.AsyncConnection, models: ModelLookup,
                       messages: Sequence[tuple[str, bytes, int]], can_models: str = ""
                       ) -> list[Envelope]:
    """Decode (topic, payload, received ms) messages, looking up the vehicle models the
    decoders of these topics need (one query per batch at most)."""
    vins = {topic.split("/", 2)[1] for topic, _, _ in messages if needs_model(topic)}
    known = await models.models(conn, vins) if vins else {}
    return [decode_raw(topic, payload, received, known.get(topic.split("/", 2)[1]), can_models)
            for topic, payload, received in messages]


class Pipeline:
    """The queue between the MQTT reader and the writers."""

    def __init__(self, settings: Settings, metrics: Metrics, layout: Layout) -> None:
        self.settings = settings
        self.metrics = metrics
        self.layout = layout
        self.queue: asyncio.Queue[Inbound] = asyncio.Queue()
        self.pending = 0
        self.last_commit_ms = 0
        self.models = ModelLookup()
        # read at scrape time: no lock taken per message
        metrics.inflight.set_function(lambda: self.pending)

    def submit(self, msg: Inbound) -> None:
        """Called by the MQTT reader for every message."""
        self.pending += 1
        self.queue.put_nowait(msg)

    async def run(self) -> None:
        """Run the writer tasks until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for n in range(self.settings.writers):
                tg.create_task(self._writer(n))

    async def _next_batch(self) -> list[Inbound]:
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.batch_max_wait_ms / 1000
        while len(batch) < self.settings.batch_max_messages:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _writer(self, n: int) -> None:
        writer: BatchWriter | None = None
        while True:
            batch = await self._next_batch()
            envelopes: list[Envelope] | None = None
            delay = 0.2
            while True:
                started = time.perf_counter()
                try:
                    if writer is None:
                        writer = BatchWriter(await connect(self.settings.db_url,
                                                           application=f"gateway-writer-{n}"),
                                             self.layout)
                    if envelopes is None:
                        envelopes = await decode_batch(
                            writer.conn, self.models,
                            [(m.topic, m.payload, m.received_ms) for m in batch],
                            self.settings.can_models)
                    result = await writer.write_isolating(envelopes)
                    break
                except (StorageError, OSError, psycopg.Error) as exc:
                    # psycopg.Error: from the model lookup before writing (the writer
                    # classifies its own errors)
                    kind = "permanent" if isinstance(classify(exc), PermanentStorageError) \
                        else "transient"
                    self.metrics.db_errors.labels(kind).inc()
                    log.warning("writer %d: %s storage error, batch of %d kept, retry in %.1fs:"
                                " %s", n, kind, len(batch), delay, str(exc)[:300])
                    if writer is not None:
                        await writer.conn.close()
                        writer = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
            self._account(envelopes, result, time.perf_counter() - started)
            for m in batch:
                m.ack()
            self.pending -= len(batch)

    def _account(self, envelopes: list[Envelope], result: WriteResult, seconds: float) -> None:
        m = self.metrics
        now_ms = int(time.time() * 1000)
        self.last_commit_ms = now_ms
        m.committed.inc(result.messages)
        m.duplicates.inc(result.duplicates)
        m.samples.inc(result.values)
        m.events.inc(result.events)
        m.batch_size.observe(len(envelopes))
        m.commit_seconds.observe(seconds)
        newest = 0
        for env in envelopes:
            for rej in env.rejections:
                m.rejected.labels(rej.code).inc()
            if env.readings is not None:
                if env.readings.ts_ms:
                    newest = max(newest, max(env.readings.ts_ms))
                m.unknown_events.inc(sum(1 for e in env.readings.events if not e.known))
                m.unknown_can_frames.inc(env.readings.unknown_frames)
        m.rejected.labels("storage").inc(len(result.rejected_by_storage))
        if newest:
            m.lag_seconds.observe(max(0.0, (now_ms - newest) / 1000))
