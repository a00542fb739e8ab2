"""Fast unit tests of the pipeline and the ack sequencer on an in-memory store: ack order
across writers, retry of transient errors, permanent errors isolated, backpressure,
decoder bugs and poison messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from decoders import registry
from decoders.readings import DecodeContext, Readings
from gateway.metrics import Metrics
from gateway.mqtt.acks import AckSequencer
from gateway.mqtt.base import Inbound
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from tests.memory_store import MemoryDatabase, MemoryStore
from timeseries.batch import message_digest

T0 = 1_763_798_400_000
VIN = "LSVAU2180N2183{:03d}"


def payload(vin: str, seq: int) -> bytes:
    return json.dumps({"v": 1, "vin": vin, "seq": seq, "t0": T0 + seq * 10_000, "dt": [0],
                       "signals": {"Vehicle.Speed": [40.0 + seq % 50]}}).encode()


class Harness:
    """A pipeline on memory stores, fed like the MQTT source feeds it."""

    def __init__(self, db: MemoryDatabase, writers: int = 2, batch: int = 10,
                 delays: tuple[float, ...] = (0.0, 0.0), poison: int = 3) -> None:
        self.db = db
        self.acked: list[int] = []
        self.ack_seen = asyncio.Event()
        self.acks = AckSequencer(self._on_ack)
        self.metrics = Metrics()
        settings = Settings(writers=writers, batch_max_messages=batch, batch_max_wait_ms=5,
                            poison_redeliveries=poison)
        self.stores = [MemoryStore(db, delays[n % len(delays)]) for n in range(writers)]
        self.pipeline = Pipeline(settings, self.metrics, lambda n: self.stores[n])
        self.sent = 0

    def _on_ack(self, mid: int, qos: int) -> None:
        self.acked.append(mid)
        self.ack_seen.set()

    async def wait_acked(self, count: int, within_s: float = 5.0) -> None:
        async with asyncio.timeout(within_s):
            while len(self.acked) < count:
                self.ack_seen.clear()
                await self.ack_seen.wait()

    def send(self, topic: str, body: bytes) -> None:
        self.sent += 1
        mid = self.sent
        self.pipeline.submit(Inbound(topic, body, T0 + 60_000, mid, 1,
                                     self.acks.register(len(body)), self.acks))

    def rejected(self, reason: str) -> float:
        return float(self.metrics.rejected.labels(reason)._value.get())


async def run_until_acked(h: Harness, within_s: float = 5.0) -> None:
    task = asyncio.create_task(h.pipeline.run())
    try:
        await h.wait_acked(h.sent, within_s)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def topic(n: int) -> str:
    return f"vehicles/{VIN.format(n % 7)}/telemetry/json"


async def test_acks_leave_in_arrival_order_when_writers_commit_out_of_order() -> None:
    db = MemoryDatabase()
    h = Harness(db, writers=2, batch=7, delays=(0.03, 0.0))  # writer 0 slow, 1 fast
    for n in range(100):
        h.send(topic(n), payload(VIN.format(n % 7), n))
    await run_until_acked(h)
    assert h.acked == list(range(1, 101))
    assert len(db.messages) == 100
    assert h.pipeline.pending == 0
    assert not db.journal


async def test_transient_errors_are_retried_and_nothing_is_acked_before_commit() -> None:
    db = MemoryDatabase(fail_next=3)
    h = Harness(db, writers=1)
    for n in range(5):
        h.send(topic(n), payload(VIN.format(n % 7), n))
    task = asyncio.create_task(h.pipeline.run())
    await asyncio.sleep(0.25)  # first retries: 0.2 s, 0.4 s
    assert h.acked == [] and not db.messages
    await h.wait_acked(5)
    task.cancel()
    assert len(db.messages) == 5
    assert h.metrics.db_errors.labels("transient")._value.get() == 3
    assert h.stores[0].resets == 3


async def test_a_permanent_error_costs_only_its_message() -> None:
    bad = VIN.format(3)
    db = MemoryDatabase(refuse_vins={bad})
    h = Harness(db, writers=1, batch=50)
    for n in range(20):
        h.send(topic(n), payload(VIN.format(n % 7), n))
    await run_until_acked(h)
    stored_vins = {k[0] for k in db.messages}
    assert bad not in stored_vins and len(db.messages) == 20 - 3  # n = 3, 10, 17
    assert [e.rejections[0].code for e in db.dead_letters.values()] == ["storage"] * 3
    assert h.rejected("storage") == 3


async def test_backpressure_nothing_acked_while_storage_blocks() -> None:
    db = MemoryDatabase(gate=asyncio.Event())
    h = Harness(db, writers=2, batch=5)
    for n in range(30):
        h.send(topic(n), payload(VIN.format(n % 7), n))
    task = asyncio.create_task(h.pipeline.run())
    await asyncio.sleep(0.1)
    assert h.acked == [] and h.pipeline.pending == 30
    assert db.gate is not None
    db.gate.set()
    await h.wait_acked(30)
    task.cancel()
    assert h.pipeline.pending == 0


@pytest.fixture
def crashing_json_decoder() -> Iterator[None]:
    """The JSON decoder, made to raise a library-style error on one payload."""
    entry = registry._BY_SUFFIX["telemetry/json"]

    def decode(body: bytes, ctx: DecodeContext) -> Readings:
        if b'"seq": 13,' in body:
            raise OverflowError("int too large to convert to float")
        return entry.decode(body, ctx)

    registry._BY_SUFFIX["telemetry/json"] = registry.DecoderEntry(entry.name, entry.suffix,
                                                                  decode)
    yield
    registry._BY_SUFFIX["telemetry/json"] = entry


async def test_a_decoder_bug_becomes_a_decoder_error_dead_letter(
        crashing_json_decoder: None) -> None:
    db = MemoryDatabase()
    h = Harness(db, writers=1, batch=50)
    for n in range(20):
        h.send(topic(n), payload(VIN.format(n % 7), n))
    await run_until_acked(h)
    assert len(db.messages) == 19
    (dl,) = db.dead_letters.values()
    assert dl.rejections[0].code == "decoder_error"
    assert dl.rejections[0].detail == "json_v1: OverflowError: int too large to convert to float"
    assert dl.payload == payload(VIN.format(13 % 7), 13)
    assert h.rejected("decoder_error") == 1


async def test_poison_is_quarantined_and_suspects_are_processed_alone() -> None:
    db = MemoryDatabase()
    bodies = [(topic(n), payload(VIN.format(n % 7), n)) for n in range(10)]
    poison_digest = message_digest(*bodies[4])
    suspect_digest = message_digest(*bodies[6])
    db.journal = {poison_digest: 3, suspect_digest: 1}  # left over from earlier crashes
    h = Harness(db, writers=1, batch=50, poison=3)
    for t, b in bodies:
        h.send(t, b)
    await run_until_acked(h)
    assert h.acked == list(range(1, 11))
    assert len(db.messages) == 9
    (dl,) = db.dead_letters.values()
    assert dl.rejections[0].code == "poison" and dl.payload == bodies[4][1]
    assert dl.readings is None
    # the 8 fresh ones together, then each suspect alone
    assert [len(c) for c in db.commits] == [8, 1, 1]
    assert not db.journal
    assert h.rejected("poison") == 1
