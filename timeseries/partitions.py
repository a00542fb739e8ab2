"""Weekly range partitions for the plain-PostgreSQL layout, created before data needs them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

import psycopg
from psycopg import errors as pgerr
from psycopg import sql

PARTITIONED: dict[str, str] = {"samples": "ts", "cockpit_events": "ts", "ingest_log": "t0"}
WEEK_MS = 7 * 86_400_000
_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC
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


async def create_week(conn: psycopg.AsyncConnection, week: int) -> None:
    """Create one week's partition of each partitioned table (idempotent, race-safe)."""
    day = time.strftime("%Y%m%d", time.gmtime(week / 1000))
    for table in PARTITIONED:
        stmt = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {part} PARTITION OF {table} FOR VALUES "
            "FROM (to_timestamp({lo}::double precision / 1000)) "
            "TO (to_timestamp({hi}::double precision / 1000))"
        ).format(
            part=sql.Identifier(f"{table}_w{day}"),
            table=sql.Identifier(table),
            lo=sql.Literal(week),
            hi=sql.Literal(week + WEEK_MS),
        )
        # another replica may create it between our check and our CREATE
        with contextlib.suppress(pgerr.DuplicateTable, pgerr.UniqueViolation):
            await conn.execute(stmt)


async def ensure_partitions_around_now(
    conn: psycopg.AsyncConnection, keeper: PartitionKeeper | None = None
) -> None:
    """Partitions for this week and the next ``AHEAD_WEEKS`` weeks."""
    now = int(time.time() * 1000)
    weeks = {week_start(now + i * WEEK_MS) for i in range(AHEAD_WEEKS + 1)}
    await (keeper or PartitionKeeper()).ensure(conn, weeks)
