"""Batches received messages, then for each batch: decode, write with retry, acknowledge.

Several writer tasks each own a store (one database connection). A transient storage error
keeps the batch and retries it with backoff; meanwhile nothing is acknowledged, so the
broker stops sending (backpressure) and memory stays bounded by the in-flight window.

Before a batch is decoded, its messages are recorded in the store's in-flight journal; a
message found there from an earlier run was in flight when the process died. Such
messages are processed one at a time, with no other writer of the process in the middle
of a batch, so that only the one that kills the process accumulates attempts; it is
quarantined as a ``poison`` dead letter after
``poison_redeliveries`` starts instead of being processed again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from decoders.can_dbc import CanModels
from decoders.errors import Rejection
from decoders.registry import decoder_name_for
from gateway.decode import decode_batch
from gateway.metrics import Metrics
from gateway.mqtt.base import Inbound
from gateway.settings import Settings
from timeseries.batch import Envelope, WriteResult, message_digest
from timeseries.errors import PermanentStorageError, StorageError
from timeseries.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
StoreFactory = Callable[[int], Store]  # writer number -> its own store


class SuspectGate:
    """Writers hold it shared for ordinary batches; a suspect message takes it alone, so a
    crash while it is in flight adds an attempt to nothing else."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0  # exclusive requests first in line

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold for an ordinary batch."""
        async with self._cond:
            await self._cond.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            async with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold alone, once every ordinary batch in progress has committed."""
        async with self._cond:
            self._waiting += 1
            await self._cond.wait_for(lambda: not self._exclusive and not self._shared)
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class Pipeline:
    """The queue between the MQTT reader and the writers."""

    def __init__(self, settings: Settings, metrics: Metrics, make_store: StoreFactory,
                 can_models: CanModels | None = None) -> None:
        self.settings = settings
        self.can_models = can_models
        self.metrics = metrics
        self.make_store = make_store
        self.queue: asyncio.Queue[Inbound] = asyncio.Queue()
        self.pending = 0
        self.last_commit_ms = 0
        self.gate = SuspectGate()
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
        store = self.make_store(n)
        while True:
            batch = await self._next_batch()
            await self.process(store, batch)
            self._acknowledge(batch)

    async def process(self, store: Store, batch: Sequence[Inbound]) -> None:
        """Decode and commit one batch (retrying transient errors until they pass)."""
        digests = [message_digest(m.topic, m.payload) for m in batch]
        seen = await self._retrying(store, len(batch), lambda: store.attempts(digests))
        fresh = [(m, d) for m, d in zip(batch, digests, strict=True) if d not in seen]
        if fresh:
            async with self.gate.shared():
                await self._commit(store, fresh)
        for m, d in zip(batch, digests, strict=True):
            if d in seen:
                async with self.gate.exclusive():
                    await self._commit(store, [(m, d)], seen[d])

    async def _commit(self, store: Store, group: list[tuple[Inbound, bytes]],
                      attempts: int = 0) -> None:
        started = time.perf_counter()
        if attempts >= self.settings.poison_redeliveries:
            m = group[0][0]
            log.error("quarantined a message on %s as poison: the process stopped %d times"
                      " while it was in flight", m.topic[:120], attempts)
            envelopes = [Envelope(m.topic, m.payload, m.received_ms, decoder_name_for(m.topic),
                                  None, [Rejection("poison", f"the gateway stopped {attempts}"
                                                   " times while processing this message;"
                                                   " quarantined without decoding")])]
        else:
            await self._retrying(store, len(group),
                                 lambda: store.begin([d for _, d in group]))
            envelopes = await self._retrying(store, len(group), lambda: decode_batch(
                store, [(m.topic, m.payload, m.received_ms) for m, _ in group],
                self.can_models))
            for env, (_, digest) in zip(envelopes, group, strict=True):
                env.known_digest = digest
        result = await self._retrying(store, len(group), lambda: store.write(envelopes))
        self._account(envelopes, result, time.perf_counter() - started)

    async def _retrying(self, store: Store, size: int, op: Callable[[], Awaitable[T]]) -> T:
        """Run a storage step until it succeeds; a storage error resets the store and waits
        with exponential backoff (0.2 s doubling to 30 s)."""
        delay = 0.2
        while True:
            try:
                return await op()
            except StorageError as exc:
                kind = "permanent" if isinstance(exc, PermanentStorageError) else "transient"
                self.metrics.db_errors.labels(kind).inc()
                log.warning("%s storage error, batch of %d kept, retry in %.1fs: %s",
                            kind, size, delay, str(exc)[:300])
                await store.reset()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _acknowledge(self, batch: Sequence[Inbound]) -> None:
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
            if env.readings is None:
                m.dead_letters.inc()
            else:
                if env.readings.ts_ms:
                    newest = max(newest, max(env.readings.ts_ms))
                m.unknown_events.inc(sum(1 for e in env.readings.events if not e.known))
                m.unknown_can_frames.inc(env.readings.unknown_frames)
                m.signal_unavailable.inc(env.readings.unavailable_values)
        m.rejected.labels("storage").inc(len(result.rejected_by_storage))
        m.dead_letters.inc(len(result.rejected_by_storage))
        if newest:
            m.lag_seconds.observe(max(0.0, (now_ms - newest) / 1000))
