"""The TimescaleDB path: migrations, derivations and reads on real TimescaleDB 2.23.

TimescaleDB is not packaged for this machine; PGlite (PostgreSQL 17 compiled to WASM) with
the TimescaleDB extension runs in Node and speaks the Postgres wire protocol
(tests/timescale/). It cannot COPY and breaks on messages over ~64 KB, so samples are
inserted with plain INSERTs here; the COPY writer is covered on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from decoders.catalog import load_catalog
from features.profile import vehicle_profile
from features.rollups import recompute_days, recompute_region
from features.trips import TripRules
from gateway.schema import migrate
from localservices import ROOT, free_port, wait_until
from timeseries import reader

pytestmark = pytest.mark.live
SERVER = ROOT / "tests" / "timescale"


@pytest.fixture(scope="module")
def timescale_url() -> Iterator[str]:
    if not (SERVER / "node_modules").exists() or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("tests/timescale/node_modules missing: scripts/setup.sh installs it")
        pytest.skip("run scripts/setup.sh to install the PGlite TimescaleDB server")
    port = free_port()
    proc = subprocess.Popen(["node", "server.mjs", str(port)], cwd=SERVER,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable"

    def up() -> bool:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    try:
        wait_until(up, 60, "PGlite TimescaleDB server")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def conn(timescale_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    c = await psycopg.AsyncConnection.connect(timescale_url, autocommit=True)
    yield c
    await c.close()


async def test_migrations_build_hypertables(conn: psycopg.AsyncConnection) -> None:
    layout = await migrate(conn, "timescaledb")
    assert layout.timescale
    assert (await migrate(conn, "timescaledb")).timescale  # idempotent
    cur = await conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables"
                             " ORDER BY 1")
    assert [r[0] for r in await cur.fetchall()] == ["cockpit_events", "ingest_log", "samples"]
    cur = await conn.execute("SELECT compression_enabled FROM"
                             " timescaledb_information.hypertables WHERE hypertable_name ="
                             " 'samples'")
    assert (await cur.fetchone()) == (True,)


async def test_rollups_and_reads_on_timescale(conn: psycopg.AsyncConnection) -> None:
    await migrate(conn, "timescaledb")
    await conn.execute("INSERT INTO vehicles (vin, timezone) VALUES ('WVWZZZ1JZXW000041',"
                       " 'Europe/Berlin') ON CONFLICT DO NOTHING")
    cur = await conn.execute("SELECT id FROM vehicles WHERE vin = 'WVWZZZ1JZXW000041'")
    (vid,) = await cur.fetchone() or (0,)
    start = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    rows = []
    for i in range(0, 602):  # a 10-minute trip at 60 km/h, ignition START ... OFF
        ign = 3.0 if i == 0 else (0.0 if i == 601 else 2.0)
        speed = 0.0 if i in (0, 601) else 60.0
        rows.append((vid, start + timedelta(seconds=i), speed, 1000 + min(i, 600) / 60, ign))
    async with conn.cursor() as c:
        await c.executemany("INSERT INTO samples (vehicle_id, ts, speed_kmh, odometer_km,"
                            " ignition) VALUES (%s, %s, %s, %s, %s)", rows)
    tz = ZoneInfo("Europe/Berlin")
    lo = int(start.timestamp() * 1000)
    _, days = await recompute_region(conn, vid, lo, lo + 601_000, tz, TripRules())
    await recompute_days(conn, vid, days, tz, [lo // 3_600_000])
    cur = await conn.execute("SELECT km, drive_s, trips FROM daily_usage WHERE vehicle_id = %s"
                             " AND day = '2026-11-02'", (vid,))
    km, drive_s, trips = await cur.fetchone() or (0, 0, 0)
    assert (round(km, 3), drive_s, trips) == (10.0, 601.0, 1)
    spec = load_catalog().signals["Vehicle.Speed"]
    rng = reader.TimeRange(lo, lo + 700_000)
    buckets = await reader.signal_buckets(conn, vid, spec, rng, "1m", 100)
    assert len(buckets) == 11 and buckets[1]["avg"] == 60.0
    points = await reader.signal_points(conn, vid, spec, rng, 5)
    assert points[0] == [lo, 0.0]
    trips_ = await reader.trips(conn, vid, rng, 10)
    assert len(trips_) == 1
    profile = await vehicle_profile(conn, vid, 7, datetime(2026, 11, 2).date())
    assert profile["km_total"] == 10.0 and profile["trips"] == 1
