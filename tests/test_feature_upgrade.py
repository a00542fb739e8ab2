"""Upgrades from a schema without cockpit features, or without charging sessions: the
migration queues the hours that hold cockpit events (or charging samples), and derivation
fills the feature rollup (or the charging sessions) for the stored history exactly as a
database that had it from the start."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from features import profile_store, usage_windows
from features.engine import Deriver, DeriveSettings
from features.version_insights import version_insights_from
from gateway.schema import MIGRATIONS, migrate
from localservices import create_database, drop_database
from simulator.fleet import make_fleet
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import derive_all, ingest, register_fleet
from timeseries.db import connect
from timeseries.journal import batches_ddl
from timeseries.schema import apply, software_ddl
from timeseries.writer import BatchWriter

pytestmark = pytest.mark.live
FEATURE_ROWS = ("SELECT v.vin, f.day, f.feature, f.uses, f.seconds FROM feature_days f"
                " JOIN vehicles v ON v.id = f.vehicle_id ORDER BY 1, 2, 3")
CHARGE_ROWS = ("SELECT v.vin, s.start_ts, s.end_ts, s.added, s.current_kind FROM"
               " energy_sessions s JOIN vehicles v ON v.id = s.vehicle_id"
               " WHERE s.kind = 'charge' ORDER BY 1, 2")


@pytest.mark.parametrize(("version", "name", "rows_sql"), [
    (13, "feature", FEATURE_ROWS), (14, "charging", CHARGE_ROWS)])
async def test_upgrading_fills_what_the_migration_adds(version: int, name: str,
                                                       rows_sql: str) -> None:
    start = date.today() - timedelta(days=12)
    truth = FleetTruth()
    fleet = make_fleet(8, 10, start, 5, new_share=0.5)
    msgs = list(fleet_stream(fleet, start, 10, 5, 3600, Faults(), truth, sample_s=10))
    tj = truth.to_json()["vehicles"]
    rows = {}
    for upgrade in (False, True):
        url = create_database()
        conn = await connect(url)
        old = [m for m in MIGRATIONS if m.version < version] if upgrade else MIGRATIONS
        assert not upgrade or all(name not in m.name for m in old)
        layout = await apply(conn, old)
        # this code's writer also stores software reports and journals batches as rows
        for stmt in software_ddl(layout) + batches_ddl(layout):
            await conn.execute(stmt)
        if upgrade:  # as the version before registered vehicles (its registry columns)
            await conn.execute(
                "INSERT INTO vehicles (vin, registered, model, powertrain, timezone,"
                " delivered_on) SELECT u.vin, true, u.m, u.p, u.tz, u.d::date FROM unnest("
                "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) AS u(vin, m, p,"
                " tz, d)", [list(tj), *([v["meta"][k] for v in tj.values()] for k in (
                    "model", "powertrain", "timezone", "delivered_on"))])
        else:
            await register_fleet(conn, tj)
        await ingest(BatchWriter(conn, layout), msgs)
        if upgrade:  # the old version derived everything: nothing is dirty any more
            await conn.execute("DELETE FROM dirty_hours")
            await migrate(conn)
            cur = await conn.execute("SELECT count(*) FROM dirty_hours")
            assert (await cur.fetchone() or (0,))[0] > 0
        await derive_all(Deriver(conn, DeriveSettings()))
        cur = await conn.execute(rows_sql)
        rows[upgrade] = await cur.fetchall()
        await conn.close()
        drop_database(url)
    assert rows[False] and rows[True] == rows[False]


async def test_upgrading_the_version_periods_reads_from_the_days_until_the_refresh() -> None:
    """A database whose version periods were stored one row per period: the migration
    forgets the stored periods, so insights are computed from the days (not read from the
    emptied tables) until the refresher's next round refreshes every vehicle; then they are
    read from the new rows, with the same figures."""
    start = date.today() - timedelta(days=12)
    truth = FleetTruth()
    fleet = make_fleet(8, 10, start, 5, new_share=0.5)
    msgs = list(fleet_stream(fleet, start, 10, 5, 3600, Faults(), truth, sample_s=10))
    url = create_database()
    conn = await connect(url)
    try:
        layout = await apply(conn, [m for m in MIGRATIONS if m.version < 19])
        await register_fleet(conn, truth.to_json()["vehicles"])
        await ingest(BatchWriter(conn, layout), msgs)
        await derive_all(Deriver(conn, DeriveSettings()))
        today = date.today()
        to = usage_windows.periods_end(today)
        await conn.execute(  # as the previous version left it: periods stored for today
            "INSERT INTO storage_meta (key, value) VALUES ('usage_windows_to', %s),"
            " ('profiles_as_of', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (to.isoformat(), today.isoformat()))
        await conn.execute("INSERT INTO version_windows (window_days, component, vehicle_id,"
                           " version, drive_s) VALUES (30, 'head_unit', 1, 'x', 1)")
        await migrate(conn)
        frm = to - timedelta(days=29)

        async def read() -> tuple[list[dict[str, Any]], bool]:
            return await version_insights_from(conn, "software_version", frm, to)
        live, stored = await read()
        assert not stored and live and sum(g["active"] for g in live) > 0
        assert await profile_store.refresh_due(conn, today) == len(fleet)
        after, stored = await read()
        assert stored
        assert [(g["group"], g["active"], {f: (x["adopters"], x["uses"]) for f, x in
                 g["features"].items()}) for g in after] == \
            [(g["group"], g["active"], {f: (x["adopters"], x["uses"]) for f, x in
              g["features"].items()}) for g in live]
    finally:
        await conn.close()
        drop_database(url)
