"""The same simulated fleet written to partitioned PostgreSQL and to TimescaleDB, side by side:
write rate, size per car per day, TimescaleDB's compression ratio, and API reads (raw points
and hourly buckets of one vehicle's day, a 30-day profile) on uncompressed and compressed
chunks.

    .venv/bin/python -m benchmarks.storage [--vehicles 40] [--days 14] [--reads 200]

Needs TimescaleDB built by scripts/setup.sh (from the vendored source); the TimescaleDB
server is started here on a free port, the partitioned database is on the local server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import psycopg

from decoders.catalog import load_catalog
from features.profile import vehicle_profile
from gateway.schema import migrate
from localservices import create_database, drop_database
from localservices.postgres import PostgresServer, timescaledb_bin
from simulator.fleet import make_fleet
from simulator.stream import Faults, Outgoing, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import derive_all, deriver_for, ingest, register_fleet
from timeseries import reader
from timeseries.db import connect
from timeseries.writer import BatchWriter


async def _latency(make: Callable[[], Awaitable[object]], n: int) -> str:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        await make()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return f"p50 {statistics.median(times):.2f} ms, p99 {times[int(0.99 * (n - 1))]:.2f} ms"


async def _reads(conn: psycopg.AsyncConnection, ids: list[int], first: date, days: int,
                 n: int) -> dict[str, str]:
    speed = load_catalog().signals["Vehicle.Speed"]
    rng = random.Random(1)

    def day_range() -> reader.TimeRange:
        d = first + timedelta(days=rng.randrange(days))
        lo = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
        return reader.TimeRange(lo, lo + 86_400_000)

    return {
        "raw points of a day": await _latency(lambda: reader.signal_points(
            conn, rng.choice(ids), speed, day_range(), 100_000), n),
        "hourly buckets of a day": await _latency(lambda: reader.signal_buckets(
            conn, rng.choice(ids), speed, day_range(), "1h", 1000), n),
        "30-day profile": await _latency(lambda: vehicle_profile(
            conn, rng.choice(ids), 30, first + timedelta(days=days - 1)), n // 4),
    }


async def _size(conn: psycopg.AsyncConnection, timescale: bool) -> int:
    q = "SELECT hypertable_size('samples')" if timescale else \
        "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits" \
        " WHERE inhparent = 'samples'::regclass"
    cur = await conn.execute(q)
    return int(((await cur.fetchone()) or (0,))[0] or 0)


async def _one_layout(name: str, url: str, msgs: list[Outgoing], truth: FleetTruth,
                      first: date, days: int, reads: int) -> list[tuple[str, str]]:
    out = []
    async with await connect(url) as conn:
        layout = await migrate(conn, "timescaledb" if name == "timescaledb" else "partitioned")
        await register_fleet(conn, truth.to_json()["vehicles"])
        t = time.perf_counter()
        await ingest(BatchWriter(conn, layout), msgs)
        secs = time.perf_counter() - t
        await derive_all(deriver_for(conn))
        await conn.execute("ANALYZE")
        cur = await conn.execute("SELECT count(*), count(DISTINCT vehicle_id) FROM samples")
        rows, cars = await cur.fetchone() or (0, 0)
        cur = await conn.execute("SELECT id FROM vehicles")
        ids = [r[0] for r in await cur.fetchall()]
        size = await _size(conn, layout.timescale)
        out.append((f"{name}: write", f"{len(msgs) / secs:,.0f} msg/s, {rows / secs:,.0f}"
                    f" rows/s ({rows:,} rows, in process, no derivation)"))
        out.append((f"{name}: samples size", f"{size / 1e6:.1f} MB, {size / cars / days:,.0f}"
                    f" bytes per car per day, {size / rows:.0f} bytes per row"))
        for what, figure in (await _reads(conn, ids, first, days, reads)).items():
            out.append((f"{name}: {what}", figure))
        if layout.timescale:
            t = time.perf_counter()
            await conn.execute("SELECT count(compress_chunk(c)) FROM show_chunks('samples') c")
            compress_s = time.perf_counter() - t
            after = await _size(conn, True)
            await conn.execute("ANALYZE")
            out.append((f"{name}: compressed", f"{after / 1e6:.1f} MB, ratio"
                        f" {size / max(after, 1):.1f}x, {after / cars / days:,.0f} bytes per"
                        f" car per day (compressing took {compress_s:.1f} s)"))
            for what, figure in (await _reads(conn, ids, first, days, reads)).items():
                out.append((f"{name}, compressed: {what}", figure))
    return out


async def run(vehicles: int, days: int, reads: int) -> None:
    """Both layouts, then one table."""
    bin_dir = timescaledb_bin()
    if bin_dir is None:
        raise SystemExit("TimescaleDB is not built: run scripts/setup.sh (needs the source in"
                         " ../shared/vendor)")
    first = date.today() - timedelta(days=days + 2)
    truth = FleetTruth()
    msgs = list(fleet_stream(make_fleet(vehicles, days, first, 7), first, days, 7, 900,
                             Faults(), truth))
    server = PostgresServer(bin_dir, fsync=True)  # as the system server
    server.start()
    results: list[tuple[str, str]] = []
    try:
        for name, admin in (("partitioned", None), ("timescaledb", server.admin_url)):
            url = create_database("tg_bench") if admin is None else \
                create_database("tg_bench", admin=admin)
            try:
                results += await _one_layout(name, url, msgs, truth, first, days, reads)
            finally:
                drop_database(url)
    finally:
        server.stop()
    print(f"{vehicles} vehicles x {days} days, {len(msgs):,} messages, {datetime.now(UTC):%F}")
    for what, figure in results:
        print(f"| {what} | {figure} |")


def main() -> None:
    """Parse arguments and run."""
    p = argparse.ArgumentParser()
    p.add_argument("--vehicles", type=int, default=40)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--reads", type=int, default=200)
    a = p.parse_args()
    asyncio.run(run(a.vehicles, a.days, a.reads))


if __name__ == "__main__":
    main()
