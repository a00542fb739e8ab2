"""Feed simulator messages straight through decode + BatchWriter (no broker), and run the
derivations: for tests that compare arrival orders on large fleets quickly."""

from __future__ import annotations

import asyncio
import heapq
import multiprocessing
import random
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from features.engine import Deriver, DeriveSettings
from features.registry import Registration, upsert
from gateway.decode import decode_envelope
from gateway.schema import migrate
from localservices import create_database
from simulator.fleet import VehicleSpec
from simulator.stream import Faults, Outgoing, fleet_stream
from simulator.truth import FleetTruth
from timeseries.batch import Envelope
from timeseries.db import connect
from timeseries.writer import BatchWriter


def envelope(msg: Outgoing, now_ms: int, models: dict[str, str] | None = None) -> Envelope:
    """Decode like the gateway does; ``models`` (VIN -> registered model) picks each CAN
    car's DBC, as the gateway's registry does (without it every car gets the default)."""
    model = models.get(msg.topic.split("/")[1]) if models else None
    return decode_envelope(msg.topic, msg.payload, now_ms, model)


async def ingest(writer: BatchWriter, messages: Iterable[Outgoing], batch: int = 500,
                 deriver: Deriver | None = None, derive_every: int = 8) -> None:
    """Write in batches, deriving every ``derive_every`` batches (the gateway derives on a
    timer; at full speed that is every few thousand messages)."""
    now = int(time.time() * 1000)
    pending: list[Envelope] = []
    written = 0
    for msg in messages:
        pending.append(envelope(msg, now))
        if len(pending) >= batch:
            await writer.write_isolating(pending)
            pending = []
            written += 1
            if deriver is not None and written % derive_every == 0:
                await deriver.run_pending()
    if pending:
        await writer.write_isolating(pending)
    if deriver is not None:
        await derive_all(deriver)


async def derive_all(deriver: Deriver) -> int:
    """Until nothing (of the deriver's share) is dirty; returns the vehicle passes."""
    total = 0
    while done := await deriver.run_pending(1000):
        total += done
    return total


async def register_fleet(conn: psycopg.AsyncConnection, truth: dict[str, dict[str, object]]
                         ) -> None:
    """Register every simulated vehicle from the truth's metadata: its first owner (under
    the id the registry first knows) from delivery, then each transfer on its day."""
    for vin, v in truth.items():
        meta = v["meta"]
        assert isinstance(meta, dict)
        periods = meta.get("ownership") or [{"owner_id": meta["owner_id"],
                                             "from": meta["delivered_on"]}]
        for n, period in enumerate(periods):
            async with conn.transaction():
                await upsert(conn, Registration(
                    vin=vin, model=meta["model"], powertrain=meta["powertrain"],
                    timezone=meta["timezone"], delivered_on=_date(meta["delivered_on"]),
                    owner_id=meta.get("registered_as", meta["owner_id"]) if n == 0
                    else period["owner_id"],
                    dealer_id=meta["dealer_id"], advisor_id=meta.get("advisor_id"),
                    owner_channel=meta.get("owner_channel"), owner_since=_date(period["from"]),
                    owner_type=meta.get("owner_type", "private") if n == 0 else "private",
                    home_lat=meta.get("home_lat"), home_lon=meta.get("home_lon")))


def _date(s: str) -> date:
    return date.fromisoformat(s)


def deriver_for(conn: psycopg.AsyncConnection) -> Deriver:
    """A deriver with default settings."""
    return Deriver(conn, DeriveSettings())


def _stream(specs: list[VehicleSpec], start: date, days: int, seed: int, heartbeat_s: int,
            faults: Faults, sample_s: int) -> tuple[list[Outgoing], FleetTruth]:
    truth = FleetTruth()
    return list(fleet_stream(specs, start, days, seed, heartbeat_s, faults, truth,
                             sample_s)), truth


def generate(specs: list[VehicleSpec], start: date, days: int, seed: int, heartbeat_s: int,
             faults: Faults, sample_s: int, parallel_from: int = 100
             ) -> tuple[list[Outgoing], FleetTruth]:
    """``fleet_stream`` into a list, the same messages and truth; fleets of
    ``parallel_from`` vehicles or more are generated in one process per core (each
    vehicle's stream depends only on its own spec and the seed, so halves merged in send
    order are the whole fleet's stream)."""
    workers = min(multiprocessing.cpu_count(), 4)
    if len(specs) < parallel_from or workers < 2:
        return _stream(specs, start, days, seed, heartbeat_s, faults, sample_s)
    assert faults.garbage == 0, "garbage kinds are drawn fleet-wide: generate in one process"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        parts = list(ex.map(_stream, [specs[k::workers] for k in range(workers)],
                            *([x] * workers for x in (start, days, seed, heartbeat_s, faults,
                                                      sample_s))))
    truth = FleetTruth()
    by_vin = {vin: v for _, part in parts for vin, v in part.vehicles.items()}
    truth.vehicles = {s.vin: by_vin[s.vin] for s in specs}
    for _, part in parts:
        truth.faults.update(part.faults)
    return list(heapq.merge(*(m for m, _ in parts))), truth


@dataclass
class LoadedFleet:
    """A simulated fleet written to a fresh database and derived."""

    url: str
    conn: psycopg.AsyncConnection
    truth: dict[str, Any]


async def _derive_until(deriver: Deriver, stop: asyncio.Event) -> None:
    """Derive whatever is dirty, as the gateway's deriver does beside the ingest."""
    while not stop.is_set():
        if not await deriver.run_pending(200):
            await asyncio.sleep(0.2)


async def load_fleet(specs: list[VehicleSpec], start: date, days: int, seed: int,
                     heartbeat_s: int, derive_every: int = 10, beside: bool = False
                     ) -> LoadedFleet:
    """Publish ``specs`` (rows every 10 s while driving) with duplicates, reordering,
    outages caught up later and a tenth of the messages held back to the end; register the
    fleet, write every message in batches of 500 through the writer, derive every
    ``derive_every`` batches (``beside``: continuously on a connection of its own while
    the batches are written, as in the gateway) and at the end. Requires no dead letter
    and no derivation error. The caller drops the database
    (``localservices.drop_database``)."""
    t0 = time.monotonic()
    msgs, truth = generate(specs, start, days, seed, heartbeat_s,
                           Faults(duplicates=0.03, reorder=0.03, gaps=0.01), sample_s=10)
    rng = random.Random(seed)
    late = {i for i in range(len(msgs)) if rng.random() < 0.1}
    order = [m for i, m in enumerate(msgs) if i not in late] + \
        rng.sample([msgs[i] for i in sorted(late)], len(late))
    url = create_database()
    conn = await connect(url)
    layout = await migrate(conn)
    tj = truth.to_json()
    await register_fleet(conn, tj["vehicles"])
    deriver = deriver_for(await connect(url))
    writer = BatchWriter(conn, layout)
    models = {vin: v["meta"]["model"] for vin, v in tj["vehicles"].items()}
    now = int(time.time() * 1000)
    t1 = time.monotonic()
    t_late = t1
    stop = asyncio.Event()
    background = asyncio.create_task(_derive_until(deriver, stop)) if beside else None
    for n, i in enumerate(range(0, len(order), 500)):
        if i <= len(order) - len(late) < i + 500:
            t_late = time.monotonic()
        await writer.write_isolating([envelope(m, now, models) for m in order[i:i + 500]])
        if background is None and n % derive_every == derive_every - 1:
            await deriver.run_pending(1000)
    t2 = time.monotonic()
    if background is not None:
        stop.set()
        await background
    await derive_all(deriver)
    how = "beside" if beside else f"every {derive_every} batches"
    # shown with pytest -s: where a large fleet's load spends its time
    print(f"\nload_fleet: {len(specs)} vehicles x {days} days, {len(order):,} messages:"
          f" generated {t1 - t0:.0f} s, written (derivations {how})"
          f" {t_late - t1:.0f} s in order and {t2 - t_late:.0f} s held back,"
          f" final derivation {time.monotonic() - t2:.0f} s",
          flush=True)
    assert deriver.errors == 0, "every vehicle derived (errors are logged)"
    cur = await conn.execute("SELECT count(*) FROM dead_letters")
    assert (await cur.fetchone() or (1,))[0] == 0, "every message decoded and kept"
    await deriver.conn.close()
    return LoadedFleet(url, conn, tj)
