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


BUCKETS = {"1m": "1 minute", "5m": "5 minutes", "15m": "15 minutes", "1h": "1 hour",
           "1d": "1 day"}


async def signal_buckets(
    conn: psycopg.AsyncConnection, vid: int, spec: SignalSpec, rng: TimeRange, bucket: str,
    limit: int,
) -> list[dict[str, Any]]:
    """avg/min/max/last/count per time bucket (UTC-aligned), in time order."""
    numeric = spec.type in ("float", "int")
    col = sql.Identifier(spec.column)
    cur = await conn.execute(
        sql.SQL(
            "SELECT {ms}, avg({c}), min({c}), max({c}), (array_agg({c} ORDER BY ts DESC))[1],"
            " count({c}) FROM samples WHERE vehicle_id = %s AND ts >= to_timestamp(%s / 1000.0)"
            " AND ts < to_timestamp(%s / 1000.0) AND {c} IS NOT NULL"
            " GROUP BY 1 ORDER BY 1 LIMIT %s"
        ).format(ms=_ms("date_bin(%s::interval, ts, timestamptz 'epoch')"), c=col),
        (BUCKETS[bucket], vid, rng.start_ms, rng.end_ms, limit),
    )
    return [{"t": t, "avg": a if numeric else None, "min": lo if numeric else None,
             "max": hi if numeric else None, "last": spec.decode_stored(last), "count": n}
            for t, a, lo, hi, last, n in await cur.fetchall()]


async def trips(conn: psycopg.AsyncConnection, vid: int, rng: TimeRange,
                limit: int) -> list[dict[str, Any]]:
    """Trips starting in the range, in time order."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL(
                "SELECT {s} AS start_ms, {e} AS end_ms, local_day::text AS local_day, km,"
                " km_source, start_odometer, end_odometer, drive_s, max_speed, above_90_s,"
                " night_s, harsh_brakes, harsh_accels, fuel_used_pct, energy_used_pct"
                " FROM trips WHERE vehicle_id = %s AND start_ts >= to_timestamp(%s / 1000.0)"
                " AND start_ts < to_timestamp(%s / 1000.0) ORDER BY start_ts LIMIT %s"
            ).format(s=_ms("start_ts"), e=_ms("end_ts")),
            (vid, rng.start_ms, rng.end_ms, limit))
        return list(await cur.fetchall())


async def daily(conn: psycopg.AsyncConnection, vid: int, first: Any, last: Any,
                limit: int) -> list[dict[str, Any]]:
    """Daily usage rows between two local days (inclusive)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT day::text AS day, km, drive_s, trips, max_speed, above_90_s, night_s,"
            " harsh_brakes, harsh_accels, fuel_used_pct, energy_used_pct, refuels, charges,"
            " commute_trips, cockpit FROM daily_usage WHERE vehicle_id = %s AND day >= %s"
            " AND day <= %s ORDER BY day LIMIT %s", (vid, first, last, limit))
        return list(await cur.fetchall())
