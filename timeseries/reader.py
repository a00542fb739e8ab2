"""Read queries behind the HTTP API. Column names come from the catalog, never from input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from decoders.catalog import SignalSpec

_MS = "(extract(epoch FROM {}) * 1000)::bigint"


def _ms(col: str) -> sql.Composable:
    return sql.SQL(_MS.format(col))


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open range [start_ms, end_ms)."""

    start_ms: int
    end_ms: int


async def vehicle_id(conn: psycopg.AsyncConnection, vin: str) -> int | None:
    """The id of a VIN, or None if never seen."""
    cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def signal_points(
    conn: psycopg.AsyncConnection, vid: int, spec: SignalSpec, rng: TimeRange, limit: int
) -> list[list[Any]]:
    """``[[t_ms, value], ...]`` in time order, values in wire form (enum labels, booleans)."""
    cur = await conn.execute(
        sql.SQL(
            "SELECT {ms}, {col} FROM samples WHERE vehicle_id = %s AND ts >= {lo} AND ts < {hi}"
            " AND {col} IS NOT NULL ORDER BY ts LIMIT %s"
        ).format(
            ms=_ms("ts"), col=sql.Identifier(spec.column),
            lo=sql.SQL("to_timestamp(%s / 1000.0)"), hi=sql.SQL("to_timestamp(%s / 1000.0)"),
        ),
        (vid, rng.start_ms, rng.end_ms, limit),
    )
    return [[t, spec.decode_stored(v)] for t, v in await cur.fetchall()]


async def events(
    conn: psycopg.AsyncConnection, vid: int, rng: TimeRange, limit: int
) -> list[dict[str, Any]]:
    """Cockpit events in time order."""
    cur = await conn.execute(
        sql.SQL(
            "SELECT {ms} AS t, type, attrs FROM cockpit_events WHERE vehicle_id = %s"
            " AND ts >= to_timestamp(%s / 1000.0) AND ts < to_timestamp(%s / 1000.0)"
            " ORDER BY ts, type LIMIT %s"
        ).format(ms=_ms("ts")),
        (vid, rng.start_ms, rng.end_ms, limit),
    )
    return [{"t": t, "type": ty, "attrs": a} for t, ty, a in await cur.fetchall()]


async def dead_letters(
    conn: psycopg.AsyncConnection, reason: str | None, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, paged by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, topic, vin, decoder, reason_code, reason, details, partial, size, times,"
            " received_at FROM dead_letters WHERE (%(r)s::text IS NULL OR reason_code = %(r)s)"
            " AND (%(b)s::bigint IS NULL OR id < %(b)s) ORDER BY id DESC LIMIT %(n)s",
            {"r": reason, "b": before_id, "n": limit},
        )
        return list(await cur.fetchall())


async def dead_letter_counts(conn: psycopg.AsyncConnection) -> dict[str, int]:
    """Dead letters by reason code (distinct payloads)."""
    cur = await conn.execute("SELECT reason_code, count(*) FROM dead_letters GROUP BY 1")
    return {code: int(n) for code, n in await cur.fetchall()}
