"""Weekly range partitions for the plain-PostgreSQL layout, created before data needs them."""

from __future__ import annotations

import time
from collections.abc import Iterable

import psycopg

PARTITIONED: dict[str, str] = {"samples": "ts", "cockpit_events": "ts", "ingest_log": "t0"}
# telematics_create_week() below names the same tables
WEEK_MS = 7 * 86_400_000
_MONDAY_OFFSET_MS = 3 * 86_400_000  # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC
AHEAD_WEEKS = 2


def week_start(t_ms: int) -> int:
    """Start (ms, UTC Monday 00:00) of the week holding ``t_ms``."""
    return ((t_ms + _MONDAY_OFFSET_MS) // WEEK_MS) * WEEK_MS - _MONDAY_OFFSET_MS


def weeks_for(times_ms: Iterable[int]) -> set[int]:
    """The distinct week starts covering ``times_ms``."""
    return {week_start(t) for t in times_ms}


class PartitionKeeper:
    """Remembers which weekly partitions exist and creates missing ones."""

    def __init__(self) -> None:
        self._known: set[int] = set()

    def missing(self, weeks: set[int]) -> set[int]:
        """Weeks not yet known to exist."""
        return weeks - self._known

    async def ensure(self, conn: psycopg.AsyncConnection, weeks: set[int]) -> None:
        """Create the partitions of every partitioned table for ``weeks``, if missing."""
        for week in sorted(self.missing(weeks)):
            await create_week(conn, week)
            self._known.add(week)


CREATE_WEEK_FUNCTION = """
CREATE OR REPLACE FUNCTION telematics_create_week(lo_ms bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
    t text;
    day text := to_char(to_timestamp(lo_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    FOREACH t IN ARRAY ARRAY['samples', 'cockpit_events', 'ingest_log'] LOOP
        BEGIN
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I'
                           ' FOR VALUES FROM (%L) TO (%L)', t || '_w' || day, t,
                           to_timestamp(lo_ms / 1000.0),
                           to_timestamp((lo_ms + 604800000) / 1000.0));
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL;  -- another replica created it between our check and our CREATE
        END;
    END LOOP;
END
$fn$"""
# SECURITY DEFINER: the gateway's own role needs no DDL rights to add partitions for late
# data; the function runs with the rights of the role that ran the migrations.


async def create_week(conn: psycopg.AsyncConnection, week: int) -> None:
    """Create one week's partition of each partitioned table (idempotent, race-safe)."""
    await conn.execute("SELECT telematics_create_week(%s)", (week,))


async def ensure_partitions_around_now(
    conn: psycopg.AsyncConnection, keeper: PartitionKeeper | None = None
) -> None:
    """Partitions for this week and the next ``AHEAD_WEEKS`` weeks."""
    now = int(time.time() * 1000)
    weeks = {week_start(now + i * WEEK_MS) for i in range(AHEAD_WEEKS + 1)}
    await (keeper or PartitionKeeper()).ensure(conn, weeks)
