"""Real TimescaleDB 2.28 (built from the vendored source into a private PostgreSQL 15, run by
the tests on a free port): the layout choice in each state of the extension, hypertables
with compression from ``migrate``, and the production write path (binary COPY, the
savepoint and staging merge of repeated keys) writing late rows into compressed chunks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta

import msgpack
import psycopg
import pytest

from gateway.schema import migrate
from localservices import PG_ADMIN, create_database, drop_database, query, use_server
from localservices.postgres import PostgresServer, timescaledb_bin
from simulator.fleet import make_fleet
from simulator.stream import Faults, Outgoing, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import envelope
from timeseries.db import connect
from timeseries.storage_choice import StorageUnavailable, timescale_state
from timeseries.writer import BatchWriter

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def not_preloaded(timescaledb_server: PostgresServer) -> Iterator[PostgresServer]:
    """The same installation started without the extension preloaded: installed, not
    usable (the common state after installing the package)."""
    bin_dir = timescaledb_bin()
    assert bin_dir is not None
    server = PostgresServer(bin_dir, preload="")
    server.start()
    yield server
    server.stop()


async def test_preloaded_auto_takes_hypertables_with_compression(
        ts_conn: psycopg.AsyncConnection) -> None:
    assert await timescale_state(ts_conn) == (True, "")
    layout = await migrate(ts_conn)
    assert layout.timescale and (await migrate(ts_conn)).timescale  # idempotent
    cur = await ts_conn.execute("SELECT hypertable_name, compression_enabled FROM"
                                " timescaledb_information.hypertables ORDER BY 1")
    tables: dict[str, bool] = dict(await cur.fetchall())
    assert set(tables) == {"cockpit_events", "ingest_log", "samples"} and tables["samples"]
    cur = await ts_conn.execute("SELECT extversion FROM pg_extension"
                                " WHERE extname = 'timescaledb'")
    assert (await cur.fetchone()) == ("2.28.3",)
    # reads go by vehicle: only the (vehicle, time) keys, no time-only index
    cur = await ts_conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)",
                                (["samples", "cockpit_events", "ingest_log"],))
    assert sorted(r[0] for r in await cur.fetchall()) == [
        "cockpit_events_pkey", "ingest_log_pkey", "samples_pkey"]


async def test_installed_but_not_preloaded_is_partitioned_with_the_reason(
        not_preloaded: PostgresServer) -> None:
    url = create_database(admin=not_preloaded.admin_url)
    try:
        async with await connect(url) as conn:
            usable, why = await timescale_state(conn)
            assert not usable and "shared_preload_libraries" in why
            with pytest.raises(StorageUnavailable):
                await migrate(conn, "timescaledb")
        async with await connect(url) as conn:
            assert not (await migrate(conn, "auto")).timescale
    finally:
        drop_database(url)


async def test_late_rows_are_written_into_compressed_chunks(
        ts_conn: psycopg.AsyncConnection) -> None:
    layout = await migrate(ts_conn)
    start = date.today() - timedelta(days=20)
    truth = FleetTruth()
    msgs = list(fleet_stream(make_fleet(3, 10, start, 5, json_share=0.0), start, 10, 5, 900,
                             Faults(), truth))
    late = msgs[::7]  # held back: they arrive after their week was compressed
    on_time = [m for i, m in enumerate(msgs) if i % 7]
    writer = BatchWriter(ts_conn, layout)
    now = int(time.time() * 1000)

    async def write(batch: list[Outgoing]) -> None:
        for i in range(0, len(batch), 500):
            await writer.write_isolating([envelope(m, now) for m in batch[i:i + 500]])

    await write(on_time)
    cur = await ts_conn.execute("SELECT count(compress_chunk(c)) FROM show_chunks('samples') c")
    assert ((await cur.fetchone()) or (0,))[0] >= 2
    cur = await ts_conn.execute(
        "SELECT min(range_start), max(range_end) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'samples' AND is_compressed")
    lo, hi = await cur.fetchone() or (None, None)
    cur = await ts_conn.execute("SELECT count(*) FROM samples")
    before = ((await cur.fetchone()) or (0,))[0]
    await write(late)
    # the same readings again under new sequence numbers (a unit re-sending after a reset):
    # new to the ingest log, every row a repeated key in a compressed chunk
    await write([Outgoing(m.send_ms, m.order, m.topic, _reseq(m.payload))
                 for m in on_time[:300]])
    cur = await ts_conn.execute("SELECT count(*), count(DISTINCT (vehicle_id, ts))"
                                " FROM samples")
    rows, distinct = await cur.fetchone() or (0, 0)
    want = sum(v["rows"] for v in truth.to_json()["vehicles"].values())
    assert rows == distinct == want
    cur = await ts_conn.execute("SELECT count(*) FROM ingest_log")
    assert ((await cur.fetchone()) or (0,))[0] == len(msgs) + 300
    # every late row lies in the weeks that were compressed before it arrived
    assert lo is not None and hi is not None and rows > before
    cur = await ts_conn.execute("SELECT count(*) FROM samples WHERE ts < %s OR ts >= %s",
                                (lo, hi))
    assert ((await cur.fetchone()) or (0,))[0] == 0


def _reseq(payload: bytes) -> bytes:
    doc = msgpack.unpackb(payload)
    doc["seq"] += 1_000_000
    return bytes(msgpack.packb(doc))


async def test_derivations_give_the_same_rows_on_both_layouts(
        timescaledb_server: PostgresServer) -> None:
    """The same fleet (duplicates, reordering, gaps, offline catch-ups), ingested with
    derivations every few batches into each layout: trips, daily usage (with the day-end
    readings), segments, reminders and the event feed are the same rows."""
    from tests.test_derivations import derive_into_new_db, simulate

    msgs, truth = simulate(8, 12, 33, Faults(duplicates=0.03, reorder=0.03, gaps=0.002))
    urls = [await derive_into_new_db(msgs, truth)]
    use_server(timescaledb_server.admin_url)
    try:
        urls.append(await derive_into_new_db(msgs, truth))
    finally:
        use_server(PG_ADMIN)
    tables = {
        "trips": "SELECT v.vin, t.start_ts, t.end_ts, t.km, t.drive_s, t.night_s FROM trips t"
                 " JOIN vehicles v ON v.id = t.vehicle_id",
        "daily_usage": "SELECT v.vin, d.day, d.km, d.trips, d.odometer_km, d.conditions,"
                       " d.engine_hours, d.cockpit FROM daily_usage d"
                       " JOIN vehicles v ON v.id = d.vehicle_id",
        "segment_days": "SELECT v.vin, s.day, s.activity FROM segment_days s"
                        " JOIN vehicles v ON v.id = s.vehicle_id",
        "reminders": "SELECT v.vin, r.cycle, i.item, i.threshold, i.day FROM"
                     " service_reminder_items i JOIN service_reminders r"
                     " ON r.id = i.reminder_id JOIN vehicles v ON v.id = r.vehicle_id",
        "feed": "SELECT key, type FROM feed_events",
    }
    try:
        found = [{name: sorted(map(repr, query(url, q))) for name, q in tables.items()}
                 for url in urls]
        assert all(found[0][name] for name in ("trips", "daily_usage", "feed"))
        for name in tables:
            assert found[0][name] == found[1][name], name
        assert query(urls[1], "SELECT value FROM storage_meta WHERE key = 'layout'") \
            == [("timescaledb",)]
    finally:
        for url in urls:
            drop_database(url)
