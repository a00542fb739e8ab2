"""Replay a capture: to a broker (keeping relative timing, scaled) or straight into the
pipeline (``--direct``: same decode, validation and dedup, for backfills and decoder fixes)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from decoders.can_dbc import CanModels
from decoders.registry import topic_vin
from gateway.decode import decode_batch
from gateway.mqtt.publisher import Outgoing, publish_all
from gateway.ops.capture import Record, read
from gateway.ops.pcap import is_pcap, publishes
from gateway.schema import migrate
from gateway.settings import Settings
from timeseries.db import connect
from timeseries.store import PostgresStore


def select(records: Iterable[Record], vins: set[str], start_ms: int | None,
           end_ms: int | None) -> Iterator[Record]:
    """Filter by VIN (topic) and receive time."""
    for r in records:
        if vins and topic_vin(r.topic) not in vins:
            continue
        if start_ms is not None and r.received_ms < start_ms:
            continue
        if end_ms is not None and r.received_ms >= end_ms:
            continue
        yield r


class Progress:
    """A progress line with rate and ETA on a terminal; a log line every 10 s otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def step(self, n: int = 1) -> None:
        """Count ``n`` more and maybe print."""
        self.done += n
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 10) and self.done < self.total:
            return
        self.last = now
        rate = self.done / max(now - self.started, 1e-6)
        eta = (self.total - self.done) / rate if rate else 0
        line = (f"{self.done}/{self.total} messages  {rate:,.0f}/s  ETA {eta:,.0f}s")
        if self.tty:
            bar = "#" * int(30 * self.done / max(self.total, 1))
            print(f"\r[{bar:<30}] {line}", end="", file=sys.stderr, flush=True)
            if self.done >= self.total:
                print(file=sys.stderr)
        else:
            print(f"replay: {line}", file=sys.stderr, flush=True)


async def to_broker(records: list[Record], settings: Settings, speed: float | None) -> int:
    """Publish with QoS 1 to the broker of ``settings``; ``speed`` None = as fast as
    possible."""
    progress = Progress(len(records))
    return await publish_all(settings, (Outgoing(r.received_ms, r.topic, r.payload)
                                        for r in records), speed or 0.0, progress.step)


async def direct(records: list[Record], db_url: str, batch: int = 500,
                 can_models: CanModels | None = None) -> int:
    """Through decode + validation + dedup into the database, without a broker."""
    progress = Progress(len(records))
    async with await connect(db_url, application="gateway-replay") as conn:
        layout = await migrate(conn)
    store = PostgresStore(db_url, layout, "gateway-replay")
    try:
        for i in range(0, len(records), batch):
            chunk = records[i:i + batch]
            await store.write(await decode_batch(
                store, [(r.topic, r.payload, r.received_ms) for r in chunk], can_models))
            progress.step(len(chunk))
    finally:
        await store.reset()
    return len(records)


def load(path: Path, vins: set[str], frm: str | None, to: str | None,
         pcap_port: int = 1883) -> list[Record]:
    """Read and filter a capture: our own format, or pcap/pcapng of MQTT traffic."""
    def ms(s: str | None) -> int | None:
        if s is None:
            return None
        return int(s) if s.isdigit() else int(datetime.fromisoformat(s).timestamp() * 1000)

    records = publishes(path, pcap_port) if is_pcap(path) else read(path)
    return list(select(records, vins, ms(frm), ms(to)))
