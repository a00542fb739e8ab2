"""An upgrade from a schema without cockpit features: the migration queues the hours that
hold cockpit events, and derivation fills the feature rollup for the stored history exactly
as a database that had it from the start."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from features.engine import Deriver, DeriveSettings
from gateway.schema import MIGRATIONS, migrate
from localservices import create_database, drop_database
from simulator.fleet import make_fleet
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import derive_all, ingest, register_fleet
from timeseries.db import connect
from timeseries.schema import apply
from timeseries.writer import BatchWriter

pytestmark = pytest.mark.live
FEATURE_ROWS = "SELECT vehicle_id, day, feature, uses, seconds FROM feature_days ORDER BY 1, 2, 3"


async def test_upgrading_fills_the_feature_rollup_for_stored_events() -> None:
    start = date.today() - timedelta(days=12)
    truth = FleetTruth()
    fleet = make_fleet(4, 10, start, 5, new_share=0.5)
    msgs = list(fleet_stream(fleet, start, 10, 5, 3600, Faults(), truth, sample_s=10))
    tj = truth.to_json()["vehicles"]
    rows = {}
    for upgrade in (False, True):
        url = create_database()
        conn = await connect(url)
        old = MIGRATIONS[:-1] if upgrade else MIGRATIONS
        assert not upgrade or all("feature" not in m.name for m in old)
        layout = await apply(conn, old)
        await register_fleet(conn, tj)
        await ingest(BatchWriter(conn, layout), msgs)
        if upgrade:  # the old version derived everything: nothing is dirty any more
            await conn.execute("DELETE FROM dirty_hours")
            await migrate(conn)
            cur = await conn.execute("SELECT count(*) FROM dirty_hours")
            assert (await cur.fetchone() or (0,))[0] > 0
        await derive_all(Deriver(conn, DeriveSettings()))
        cur = await conn.execute(FEATURE_ROWS)
        rows[upgrade] = await cur.fetchall()
        await conn.close()
        drop_database(url)
    assert rows[False] and rows[True] == rows[False]
