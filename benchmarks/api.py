"""The platform API under a realistic store: profile reads and the bulk profile export.

    .venv/bin/python -m benchmarks.api [--vehicles 100000] [--with-data 10000] [--days 90]

The store is generated in SQL (the rollups profiles read: daily usage, trips, segment days;
the derivations that make them are measured by benchmarks.derive): ``--with-data``
vehicles with ``--days`` days of daily usage and a trip per active day, among ``--vehicles``
registered vehicles. Then a real gateway serves the API over HTTP to an aiohttp client.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import psycopg

from gateway.schema import migrate
from localservices import Broker, Gateway, create_database, drop_database, query, wait_until
from timeseries.db import connect

TOKEN = "bench-read-token"  # noqa: S105 - a throw-away token for a local benchmark
GENERATE = [
    """INSERT INTO vehicles (vin, registered, model, powertrain, timezone, delivered_on,
           owner_id, dealer_id, odometer_km, activity)
       SELECT 'WBABENCH' || lpad(i::text, 9, '0'), true,
              (ARRAY['Aurora 1.5T', 'Boreal 2.0', 'Volta EV', 'Hybrid Tourer'])[1 + mod(i, 4)],
              (ARRAY['ice', 'ice', 'bev', 'phev'])[1 + mod(i, 4)], 'UTC',
              current_date - (30 + mod(i, 1500)), 'owner-' || i, 'dealer-' || mod(i, 300),
              10000 + mod(i, 50000), 'active'
       FROM generate_series(1, %(vehicles)s) i""",
    """INSERT INTO daily_usage (vehicle_id, day, km, drive_s, trips, max_speed, above_90_s,
           night_s, harsh_brakes, harsh_accels, fuel_used_pct, energy_used_pct, refuels,
           charges, commute_trips, cockpit)
       SELECT v, current_date - d, round((random() * 80)::numeric, 2), 600 + random() * 5400,
              t, 40 + random() * 100, random() * 900, random() * 600, (random() * 3)::int,
              (random() * 3)::int, random() * 8, random() * 6, (random() < 0.05)::int,
              (random() < 0.05)::int, least(t, 2),
              jsonb_build_object('navigation', (random() * 3)::int, 'media',
                                 (random() * 5)::int, 'voice', (random() * 2)::int,
                                 'climate', (random() * 2)::int)
       FROM generate_series(1, %(with_data)s) v, generate_series(0, %(days)s - 1) d,
            LATERAL (SELECT (random() * 4)::int + 0 * v * d AS t) r  -- per row""",
    """INSERT INTO trips (vehicle_id, start_ts, end_ts, local_day, start_local_hour, km,
           km_source, start_odometer, end_odometer, drive_s, max_speed, above_90_s, night_s,
           harsh_brakes, harsh_accels, fuel_used_pct, energy_used_pct, excluded_deltas)
       SELECT vehicle_id, day + time '08:00', day + time '08:30', day, 8, km, 'odometer',
              1000 + (current_date - day) * -10, 1000 + (current_date - day) * -10 + km,
              drive_s, max_speed, above_90_s, night_s, 0, 0, 1, 0, 0
       FROM daily_usage WHERE trips > 0""",
    """INSERT INTO segment_days (vehicle_id, day, activity)
       SELECT vehicle_id, day, 'active' FROM daily_usage""",
    "ANALYZE",
]


async def build_store(db: str, vehicles: int, with_data: int, days: int) -> float:
    """Migrate and fill; returns seconds taken."""
    started = time.perf_counter()
    async with await connect(db) as conn:
        await migrate(conn)
        await conn.set_autocommit(True)
        for statement in GENERATE:
            params = {"vehicles": vehicles, "with_data": with_data, "days": days}
            await conn.execute(statement, params if "%(" in statement else None)
    return time.perf_counter() - started


async def reads(base: str, vins: list[str], n: int, concurrency: int) -> list[float]:
    """Latencies (s) of ``n`` profile reads of random vehicles and windows."""
    rng = random.Random(7)
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def worker(k: int) -> None:
            for _ in range(k, n, concurrency):
                url = f"{base}/v1/vehicles/{rng.choice(vins)}/profile?window=" \
                      f"{rng.choice((7, 30, 90))}"
                t = time.perf_counter()
                async with http.get(url) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                latencies.append(time.perf_counter() - t)
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return sorted(latencies)


async def export(base: str, window: int, fmt: str, as_of: str) -> tuple[int, float]:
    """(lines, seconds to the last byte) of the bulk export."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    t = time.perf_counter()
    lines = 0
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.get(f"{base}/v1/profiles?window={window}&format={fmt}"
                     + (f"&as_of={as_of}" if as_of else ""),
                     timeout=aiohttp.ClientTimeout(total=600)) as resp:
        assert resp.status == 200, resp.status
        async for chunk in resp.content.iter_chunked(1 << 16):
            lines += chunk.count(b"\n")
    return lines, time.perf_counter() - t


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def bench(add: Callable[[str, str], None], vehicles: int = 100_000, with_data: int = 10_000,
          days: int = 90, reads_n: int = 3000) -> None:
    """Build the store, start a gateway, measure; report through ``add(what, figures)``."""
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    broker = Broker(work / "broker")
    broker.start()
    db = create_database("tg_bench")
    try:
        built = asyncio.run(build_store(db, vehicles, with_data, days))
        with psycopg.connect(db) as conn:
            vins = [r[0] for r in conn.execute(
                "SELECT vin FROM vehicles WHERE id <= %s", (with_data,)).fetchall()]
        add("API store", f"{vehicles:,} vehicles, {with_data:,} x {days} days of daily usage"
                         f" and trips (built in {built:.0f} s)")
        gw = Gateway(broker.url, db, work, api_tokens=f"bench:{TOKEN}:read")
        gw.start()
        try:
            wait_until(lambda: query(db, "SELECT count(*) FROM storage_meta WHERE key ="
                                         " 'profiles_as_of'")[0][0] == 1, 600, "snapshots")
            took = query(db, "SELECT extract(epoch FROM max(computed_at) - min(computed_at)),"
                             " count(*) FROM profile_snapshots")[0]
            add("API snapshot refresh of every profile (3 windows)",
                f"{took[1]:,} profiles in {float(took[0]):.1f} s (once a day, and for vehicles"
                " with new data every minute)")
            for concurrency in (1, 8):
                lat = asyncio.run(reads(gw.base, vins, reads_n, concurrency))
                add(f"API profile read, {concurrency} at a time",
                    f"p50 {_pct(lat, 0.5):.1f} ms, p99 {_pct(lat, 0.99):.1f} ms, "
                    f"{len(lat) / sum(lat) * concurrency:,.0f} req/s (bar: p99 < 10 ms)")
            yesterday = (date.today() - timedelta(days=1)).isoformat()
            for window, fmt, as_of in ((30, "ndjson", ""), (90, "ndjson", ""),
                                       (30, "csv", ""), (30, "ndjson", yesterday)):
                lines, secs = asyncio.run(export(gw.base, window, fmt, as_of))
                rows = lines - (fmt == "csv")
                how = "computed live (as_of not today)" if as_of else "served from snapshots"
                add(f"API export {fmt}, window {window}, {how}",
                    f"{rows:,} profiles in {secs:.2f} s = {rows / secs:,.0f}/s (bar: 100,000"
                    " < 5 s)")
        finally:
            gw.stop()
    finally:
        broker.stop()
        drop_database(db)


def main() -> None:
    """Parse arguments and print the figures."""
    p = argparse.ArgumentParser()
    p.add_argument("--vehicles", type=int, default=100_000)
    p.add_argument("--with-data", type=int, default=10_000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--reads", type=int, default=3000)
    a = p.parse_args()
    bench(lambda k, v: print(f"{k}: {v}", flush=True), a.vehicles, a.with_data, a.days, a.reads)


if __name__ == "__main__":
    main()
