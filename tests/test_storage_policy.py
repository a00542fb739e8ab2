"""Chunking, compression and retention follow the settings: on real TimescaleDB as its own
policies, on the partitioned layout by dropping expired weekly partitions."""

from __future__ import annotations

import time

import psycopg
import pytest

from gateway.schema import migrate
from timeseries.db import connect
from timeseries.partitions import WEEK_MS, create_week, week_start
from timeseries.policies import StoragePolicy, apply_policy

pytestmark = pytest.mark.live


async def _jobs(conn: psycopg.AsyncConnection) -> dict[tuple[str, str], str]:
    cur = await conn.execute(
        "SELECT proc_name, hypertable_name, coalesce(config->>'compress_after',"
        " config->>'drop_after') FROM timescaledb_information.jobs"
        " WHERE proc_name IN ('policy_compression', 'policy_retention')")
    return {(p, t): v for p, t, v in await cur.fetchall()}


async def test_timescaledb_policies_follow_the_settings(ts_conn: psycopg.AsyncConnection) -> None:
    layout = await migrate(ts_conn)
    await apply_policy(ts_conn, layout.timescale, StoragePolicy(3, 10, 90))
    assert await _jobs(ts_conn) == {
        ("policy_compression", "samples"): "10 days",
        ("policy_retention", "samples"): "90 days",
        ("policy_retention", "cockpit_events"): "90 days"}
    cur = await ts_conn.execute("SELECT hypertable_name, time_interval FROM"
                                " timescaledb_information.dimensions ORDER BY 1")
    assert {t: str(i) for t, i in await cur.fetchall()} == {
        "cockpit_events": "3 days, 0:00:00", "ingest_log": "3 days, 0:00:00",
        "samples": "3 days, 0:00:00"}
    await apply_policy(ts_conn, layout.timescale, StoragePolicy(7, 0, 0))  # both off
    assert await _jobs(ts_conn) == {}


async def test_partitioned_retention_drops_whole_expired_weeks(db_url: str) -> None:
    async with await connect(db_url) as conn:
        layout = await migrate(conn, "partitioned")
        now = int(time.time() * 1000)
        for weeks_ago in (10, 7, 5, 1):
            await create_week(conn, week_start(now - weeks_ago * WEEK_MS))
        await apply_policy(conn, layout.timescale, StoragePolicy(retention_days=40))
        cur = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s", ("samples",))
        left = {r[0] for r in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE p.relname = 'ingest_log'")
        logs = ((await cur.fetchone()) or (0,))[0]

    def name(weeks_ago: int) -> str:
        day = time.strftime("%Y%m%d", time.gmtime(week_start(now - weeks_ago * WEEK_MS) / 1000))
        return f"samples_w{day}"
    assert name(10) not in left and name(7) not in left  # ended more than 40 days ago
    assert name(5) in left and name(1) in left  # 5 weeks ago ends 28-34 days ago: kept
    assert logs >= 4  # the ingest log keeps every week
