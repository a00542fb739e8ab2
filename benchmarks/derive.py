"""Cost of keeping rollups current, and of recomputing every profile.

    .venv/bin/python -m benchmarks.derive --vehicles 20 --days 14

Ingests a simulated fleet in-process (decode + BatchWriter) without deriving, then derives
everything, then computes every vehicle's 30-day profile; prints times and per-message cost.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import date, timedelta

from features.profile import vehicle_profile
from gateway.schema import migrate
from localservices import create_database, drop_database
from simulator.fleet import make_fleet
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import derive_all, deriver_for, ingest, register_fleet
from timeseries.db import connect
from timeseries.writer import BatchWriter


async def run(vehicles: int, days: int) -> None:
    """Measure and print."""
    start = date.today() - timedelta(days=days + 2)
    truth = FleetTruth()
    msgs = list(fleet_stream(make_fleet(vehicles, days, start, 3), start, days, 3, 900,
                             Faults(), truth))
    db = create_database("tg_bench")
    try:
        conn = await connect(db)
        layout = await migrate(conn)
        await register_fleet(conn, truth.to_json()["vehicles"])
        t = time.perf_counter()
        await ingest(BatchWriter(conn, layout), msgs)
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        await derive_all(deriver_for(conn))
        derive_s = time.perf_counter() - t
        cur = await conn.execute("SELECT id FROM vehicles")
        ids = [r[0] for r in await cur.fetchall()]
        t = time.perf_counter()
        for vid in ids:
            await vehicle_profile(conn, vid, 30, start + timedelta(days=days - 1))
        prof_s = time.perf_counter() - t
        n = len(msgs)
        print(f"{vehicles} vehicles x {days} days, {n} messages")
        print(f"  ingest only        {ingest_s:6.1f} s  ({n / ingest_s:,.0f} msg/s)")
        print(f"  derive everything  {derive_s:6.1f} s  ({derive_s / n * 1e6:,.0f} us per"
              f" message, {derive_s / ingest_s:.0%} of ingest)")
        print(f"  30-day profiles    {prof_s:6.2f} s for {len(ids)} vehicles"
              f" ({prof_s / len(ids) * 1000:.1f} ms each)")
        await conn.close()
    finally:
        drop_database(db)


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser()
    p.add_argument("--vehicles", type=int, default=20)
    p.add_argument("--days", type=int, default=14)
    a = p.parse_args()
    asyncio.run(run(a.vehicles, a.days))


if __name__ == "__main__":
    main()
