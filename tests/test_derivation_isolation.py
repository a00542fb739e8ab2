"""One vehicle whose derivation raises (bad registry data) is counted, retried later with
backoff, and does not stop the derivation of any other vehicle."""

from __future__ import annotations

from datetime import date, timedelta

from features.engine import BACKOFF_FIRST_S, Deriver, DeriveSettings
from gateway.schema import migrate
from localservices import create_database, drop_database
from simulator.fleet import make_fleet
from simulator.stream import Faults, Outgoing, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import derive_all, ingest
from timeseries.db import connect
from timeseries.writer import BatchWriter


def _messages(cars: int, days: int, seed: int) -> list[Outgoing]:
    """A small simulated fleet's messages, its days ending the day before yesterday."""
    start = date.today() - timedelta(days=days + 1)
    return list(fleet_stream(make_fleet(cars, days, start, seed), start, days, seed, 900,
                             Faults(), FleetTruth()))


async def test_a_failing_vehicle_is_isolated_and_retried_with_backoff() -> None:
    messages = _messages(4, 2, 7)
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
    messages = _messages(4, 2, 7)
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


async def test_pipeline_mode_derives_the_same_as_statement_by_statement() -> None:
    messages = _messages(6, 3, 11)
    derived: list[dict[str, list[tuple[object, ...]]]] = []
    for pipelined in (True, False):
        url = create_database()
        try:
            async with await connect(url) as conn:
                await ingest(BatchWriter(conn, await migrate(conn)), messages)
                await derive_all(Deriver(conn, DeriveSettings(), pipelined=pipelined))
                tables = {}
                for name, query in DERIVED.items():
                    cur = await conn.execute(query)
                    tables[name] = await cur.fetchall()
                derived.append(tables)
        finally:
            drop_database(url)
    assert derived[0]["daily_usage"] and derived[0]["trips"]  # there is something to compare
    assert derived[0] == derived[1]


DERIVED = {  # by vin, without ids and timestamps of the writes
    "trips": "SELECT v.vin, t.start_ts, t.end_ts, t.km, t.drive_s FROM trips t"
             " JOIN vehicles v ON v.id = t.vehicle_id ORDER BY 1, 2",
    "daily_usage": "SELECT v.vin, d.day, d.km, d.trips, d.odometer_km, d.conditions::text,"
                   " d.cockpit::text FROM daily_usage d JOIN vehicles v ON v.id = d.vehicle_id"
                   " ORDER BY 1, 2",
    "sessions": "SELECT v.vin, s.kind, s.start_ts, s.end_ts, s.added FROM energy_sessions s"
                " JOIN vehicles v ON v.id = s.vehicle_id ORDER BY 1, 2, 3",
    "segments": "SELECT v.vin, s.day, s.activity FROM segment_days s"
                " JOIN vehicles v ON v.id = s.vehicle_id ORDER BY 1, 2",
    "service": "SELECT vin, service_status, service_next_date, service_snapshot::text"
               " FROM vehicles ORDER BY 1",
    "feature_days": "SELECT v.vin, f.day, f.feature, f.uses, f.seconds FROM feature_days f"
                    " JOIN vehicles v ON v.id = f.vehicle_id ORDER BY 1, 2, 3",
}


NEWEST_HOUR_DIRTY = (
    "INSERT INTO dirty_hours (vehicle_id, hour) SELECT vehicle_id,"
    " (extract(epoch FROM max(ts)) * 1000)::bigint / 3600000 FROM samples"
    " WHERE vehicle_id = ANY(%s::int[]) GROUP BY 1")


async def test_a_minimum_gap_coalesces_a_busy_vehicles_passes() -> None:
    messages = _messages(2, 2, 7)
    url = create_database()
    try:
        async with await connect(url) as conn:
            await ingest(BatchWriter(conn, await migrate(conn)), messages)
            now = [1000.0]
            deriver = Deriver(conn, DeriveSettings(min_gap_s=30), clock=lambda: now[0])
            assert await deriver.run_pending(1000) == 2
            cur = await conn.execute("SELECT id FROM vehicles ORDER BY id")
            first, second = [r[0] for r in await cur.fetchall()]
            # new data for the first car right after its pass, as a streaming car sends it
            await conn.execute(NEWEST_HOUR_DIRTY, ([first],))
            now[0] += 29
            assert await deriver.run_pending(1000) == 0  # derived 29 s ago: it waits
            now[0] += 2
            assert await deriver.run_pending(1000) == 1  # 31 s: its hours are derived
            cur = await conn.execute("SELECT count(*) FROM dirty_hours")
            assert (await cur.fetchone()) == (0,)
            plain = Deriver(conn, DeriveSettings(), clock=lambda: now[0])
            await conn.execute(NEWEST_HOUR_DIRTY, ([first, second],))
            assert await plain.run_pending(1000) == 2
            await conn.execute(NEWEST_HOUR_DIRTY, ([second],))
            assert await plain.run_pending(1000) == 1  # no gap: at once again
    finally:
        drop_database(url)
