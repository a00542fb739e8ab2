"""How long raw data is kept, and on TimescaleDB how it is chunked and compressed: applied at
every ``migrate`` from the settings, so changing a setting and restarting changes the policy.

TimescaleDB: ``chunk_days`` is the chunk interval of the hypertables (new chunks take it),
``compress_after_days`` the compression policy of ``samples`` (segment by vehicle, order by
time; 0 = none), ``retention_days`` the retention policy of ``samples`` and
``cockpit_events`` (0 = keep everything). The partitioned layout has weekly partitions and
no compression; there ``retention_days`` drops the weekly partitions of ``samples`` and
``cockpit_events`` that end before the horizon (at start-up and hourly).

The ingest log is kept whatever the retention: it is what makes a replay of old messages a
no-op. Derived tables (trips, daily usage, reminders) are never dropped with raw data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from timeseries.partitions import PARTITIONED

log = logging.getLogger(__name__)
RAW = ("samples", "cockpit_events")


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """Chunking, compression and retention of raw data."""

    chunk_days: int = 7
    compress_after_days: int = 30
    retention_days: int = 0


async def apply_policy(conn: psycopg.AsyncConnection, timescale: bool,
                       policy: StoragePolicy) -> None:
    """Make the database's policies what ``policy`` says (idempotent)."""
    if timescale:
        await _timescale(conn, policy)
    elif policy.retention_days:
        await drop_expired_partitions(conn, policy.retention_days)


async def _timescale(conn: psycopg.AsyncConnection, p: StoragePolicy) -> None:
    days = sql.Literal(f"{p.chunk_days} days")
    for table in PARTITIONED:
        await conn.execute(sql.SQL("SELECT set_chunk_time_interval({}, {}::interval)").format(
            sql.Literal(table), days))
    await conn.execute("SELECT remove_compression_policy('samples', if_exists => true)")
    if p.compress_after_days:
        await conn.execute(sql.SQL("SELECT add_compression_policy('samples', {}::interval)")
                           .format(sql.Literal(f"{p.compress_after_days} days")))
    for table in RAW:
        await conn.execute(sql.SQL("SELECT remove_retention_policy({}, if_exists => true)")
                           .format(sql.Literal(table)))
        if p.retention_days:
            await conn.execute(sql.SQL("SELECT add_retention_policy({}, {}::interval)").format(
                sql.Literal(table), sql.Literal(f"{p.retention_days} days")))


async def drop_expired_partitions(conn: psycopg.AsyncConnection, retention_days: int) -> int:
    """Drop the weekly partitions of raw tables that end before now - ``retention_days``;
    returns how many were dropped."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)"
        " AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]"
        "::timestamptz <= now() - make_interval(days => %s)", (list(RAW), retention_days))
    names = [r[0] for r in await cur.fetchall()]
    for name in names:
        await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    if names:
        log.info("retention: dropped %d weekly partitions older than %d days", len(names),
                 retention_days)
    return len(names)
