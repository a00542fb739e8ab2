"""One vehicle whose derivation raises (bad registry data) is counted, retried later with
backoff, and does not stop the derivation of any other vehicle."""

from __future__ import annotations

from datetime import date, timedelta

from features.engine import BACKOFF_FIRST_S, Deriver, DeriveSettings
from gateway.schema import migrate
from localservices import create_database, drop_database
from simulator.fleet import make_fleet
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import ingest
from timeseries.db import connect
from timeseries.writer import BatchWriter


async def test_a_failing_vehicle_is_isolated_and_retried_with_backoff() -> None:
    start = date.today() - timedelta(days=3)
    truth = FleetTruth()
    messages = list(fleet_stream(make_fleet(4, 2, start, 7), start, 2, 7, 900, Faults(), truth))
    url = create_database()
    try:
        async with await connect(url) as conn:
            await ingest(BatchWriter(conn, await migrate(conn)), messages)
            cur = await conn.execute("SELECT id, vin FROM vehicles ORDER BY id")
            vehicles = await cur.fetchall()
            assert len(vehicles) == 4
            bad_id = vehicles[1][0]
            # registry data no check would let in, written behind the registry's back
            await conn.execute("UPDATE vehicles SET timezone = 'Mars/Olympus_Mons'"
                               " WHERE id = %s", (bad_id,))
            now = [1000.0]
            deriver = Deriver(conn, DeriveSettings(), clock=lambda: now[0])
            assert await deriver.run_pending(1000) == 3
            assert deriver.errors == 1
            cur = await conn.execute("SELECT DISTINCT vehicle_id FROM daily_usage ORDER BY 1")
            assert [r[0] for r in await cur.fetchall()] == \
                [v[0] for v in vehicles if v[0] != bad_id]
            cur = await conn.execute("SELECT DISTINCT vehicle_id FROM dirty_hours")
            assert [r[0] for r in await cur.fetchall()] == [bad_id]  # kept for later
            assert await deriver.run_pending(1000) == 0 and deriver.errors == 1  # backing off
            now[0] += BACKOFF_FIRST_S + 1
            await conn.execute("UPDATE vehicles SET timezone = 'Europe/Berlin' WHERE id = %s",
                               (bad_id,))
            assert await deriver.run_pending(1000) == 1 and deriver.errors == 1  # fixed
            cur = await conn.execute("SELECT count(*) FROM dirty_hours")
            assert (await cur.fetchone()) == (0,)
    finally:
        drop_database(url)


async def test_derivers_on_several_connections_share_the_vehicles_by_id() -> None:
    start = date.today() - timedelta(days=3)
    truth = FleetTruth()
    messages = list(fleet_stream(make_fleet(4, 2, start, 7), start, 2, 7, 900, Faults(), truth))
    url = create_database()
    try:
        async with await connect(url) as conn, await connect(url) as other:
            await ingest(BatchWriter(conn, await migrate(conn)), messages)
            cur = await conn.execute("SELECT id FROM vehicles ORDER BY id")
            ids = [r[0] for r in await cur.fetchall()]
            odd = Deriver(other, DeriveSettings(), shard=(1, 2))
            assert await odd.run_pending(1000) == len([i for i in ids if i % 2])
            cur = await conn.execute("SELECT DISTINCT vehicle_id FROM dirty_hours ORDER BY 1")
            assert [r[0] for r in await cur.fetchall()] == [i for i in ids if i % 2 == 0]
            even = Deriver(conn, DeriveSettings(), shard=(0, 2))
            assert await even.run_pending(1000) == len([i for i in ids if i % 2 == 0])
            cur = await conn.execute("SELECT count(*) FROM dirty_hours")
            assert (await cur.fetchone()) == (0,)
            cur = await conn.execute("SELECT count(DISTINCT vehicle_id) FROM daily_usage")
            assert (await cur.fetchone()) == (len(ids),)
    finally:
        drop_database(url)
