"""Profiles as served: snapshots of today's profiles, so a read is one row and the export is
one table scan instead of the fleet-wide aggregation.

Freshness: a vehicle is marked when its derivations run (or its registry entry changes);
marked vehicles are recomputed every ``--profile-refresh-s`` (default 60 s) in one
statement per window, and every vehicle once the UTC date changes. Until then (and for any
other ``as_of``) profiles are computed live, so a read is never wrong, only slower. The
stored usage periods of the fleet insights (``features.usage_windows``) are refreshed in
the same rounds and the same transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from features import usage_windows
from features.profile import (
    FEATURES,
    JSON_DOC,
    TYPES,
    WINDOWS,
    Scope,
    fleet_profiles_csv,
    fleet_profiles_ndjson,
    params,
    statement,
    vehicle_profile_json,
)

REFRESH_LOCK = 7_347_200  # pg_try_advisory_lock: one refresher across replicas
LIVE_FILL_MAX = 1000  # an export computes at most this many missing snapshots one by one
_EXPORT_CHUNK = (
    "SELECT max(vehicle_id), convert_to(string_agg(body, E'\\n' ORDER BY vehicle_id),"
    " 'UTF8') FROM (SELECT vehicle_id, body FROM profile_snapshots WHERE window_days ="
    " %(window)s AND as_of = %(as_of)s AND vehicle_id > %(after)s ORDER BY vehicle_id"
    " LIMIT %(rows)s) s")


async def mark(conn: psycopg.AsyncConnection, vid: int) -> None:
    """The vehicle's profiles must be recomputed."""
    await conn.execute("INSERT INTO profile_dirty (vehicle_id) VALUES (%s) ON CONFLICT"
                       " (vehicle_id) DO UPDATE SET marked_at = clock_timestamp()", (vid,))


async def refresh(conn: psycopg.AsyncConnection, as_of: date, ids: list[int] | None) -> None:
    """Recompute the snapshots of ``ids`` (None: every vehicle) for ``as_of``."""
    for window in WINDOWS:
        query = statement(Scope.IDS if ids is not None else Scope.FLEET, f"SELECT p.id, %(window)s,"
                          f" %(as_of)s, {JSON_DOC}::text FROM p")
        await conn.execute(
            sql.SQL("INSERT INTO profile_snapshots (vehicle_id, window_days, as_of, body) {}"
                    " ON CONFLICT (window_days, vehicle_id) DO UPDATE SET as_of ="
                    " EXCLUDED.as_of, body = EXCLUDED.body, computed_at = now()").format(query),
            params(window, as_of, ids))


async def _scalar(conn: psycopg.AsyncConnection, query: str) -> Any:
    row = await (await conn.execute(query.encode())).fetchone()
    return row[0] if row else None


async def refresh_due(conn: psycopg.AsyncConnection, today: date) -> int:
    """Refresh what is due (profiles and the usage periods); returns how many vehicles were
    recomputed (0 if another replica holds the refresh)."""
    if not await _scalar(conn, f"SELECT pg_try_advisory_lock({REFRESH_LOCK})"):
        return 0
    try:
        # the marks as read now: each was committed with its vehicle's new data, which the
        # statements below therefore see; a mark set or moved later stays for the next round
        cur = await conn.execute("SELECT vehicle_id, marked_at FROM profile_dirty")
        marks = await cur.fetchall()
        marker = await _scalar(conn, "SELECT value FROM storage_meta"
                                     " WHERE key = 'profiles_as_of'")
        async with conn.transaction():
            if marker != today.isoformat():  # a new day: every profile's window moved
                await refresh(conn, today, None)
                await usage_windows.refresh(conn, usage_windows.periods_end(today), None)
                await conn.execute(
                    "INSERT INTO storage_meta (key, value) VALUES ('profiles_as_of', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (today.isoformat(),))
                done = int(await _scalar(conn, "SELECT count(*) FROM vehicles"))
            elif marks:
                ids = sorted({int(m[0]) for m in marks})
                await refresh(conn, today, ids)
                await usage_windows.refresh(conn, usage_windows.periods_end(today), ids)
                done = len(ids)
            else:
                return 0
            await conn.execute(
                "DELETE FROM profile_dirty d USING unnest(%s::int[], %s::timestamptz[])"
                " AS m(v, t) WHERE d.vehicle_id = m.v AND d.marked_at = m.t",
                ([m[0] for m in marks], [m[1] for m in marks]))
        if marker != today.isoformat():
            for table in ("profile_snapshots", *usage_windows.TABLES):
                await conn.execute(f"ANALYZE {table}".encode())  # their size just changed
        return done
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock({REFRESH_LOCK})".encode())


async def profile_json(conn: psycopg.AsyncConnection, vin: str, window: int, as_of: date
                       ) -> str | None:
    """One vehicle's profile document: the snapshot if it is for ``as_of``, else computed."""
    cur = await conn.execute(
        "SELECT s.body FROM profile_snapshots s WHERE s.window_days = %s AND s.as_of = %s"
        " AND s.vehicle_id = (SELECT id FROM vehicles WHERE vin = %s)", (window, as_of, vin))
    row = await cur.fetchone()
    return str(row[0]) if row else await vehicle_profile_json(conn, vin, window, as_of)


async def _missing(conn: psycopg.AsyncConnection, window: int, as_of: date) -> list[str]:
    """VINs of vehicles without a snapshot for ``as_of`` (registered since the refresh)."""
    cur = await conn.execute(
        "SELECT v.vin FROM vehicles v WHERE NOT EXISTS (SELECT 1 FROM profile_snapshots s"
        " WHERE s.window_days = %s AND s.vehicle_id = v.id AND s.as_of = %s) ORDER BY v.id",
        (window, as_of))
    return [r[0] for r in await cur.fetchall()]


async def export_ndjson(conn: psycopg.AsyncConnection, window: int, as_of: date,
                        chunk_rows: int = 5000) -> AsyncIterator[bytes]:
    """Every vehicle's profile, one JSON document per line: from the snapshots by vehicle
    id, then any vehicle without one; computed live if most have none."""
    missing = await _missing(conn, window, as_of)
    if len(missing) > LIVE_FILL_MAX:
        async for chunk in fleet_profiles_ndjson(conn, window, as_of, chunk_rows):
            yield chunk
        return
    # The server joins each chunk's documents into one UTF-8 value (bytea, read as bytes in
    # binary format): one Python object per chunk instead of a row, a string and an encode
    # per vehicle, which took the gateway's CPU from the derivations sharing its event loop.
    # Repeatable read: every chunk sees the snapshots as of the first.
    async with conn.transaction(), conn.cursor(binary=True) as cur:
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        after = -1
        while True:
            await cur.execute(_EXPORT_CHUNK, {"window": window, "as_of": as_of,
                                              "after": after, "rows": chunk_rows})
            row = await cur.fetchone()
            if row is None or row[0] is None:
                break
            after = row[0]
            yield bytes(row[1]) + b"\n"
    for vin in missing:
        body = await vehicle_profile_json(conn, vin, window, as_of)
        if body:
            yield (body + "\n").encode()


async def export_csv(conn: psycopg.AsyncConnection, window: int, as_of: date
                     ) -> AsyncIterator[bytes]:
    """Every vehicle's profile as CSV with a header row (nested values as JSON)."""
    if await _missing(conn, window, as_of):  # CSV needs one statement: all live then
        async for chunk in fleet_profiles_csv(conn, window, as_of):
            yield chunk
        return
    record = ", ".join(["vin text", *(f"{k} {TYPES.get(k, 'float8')}" for k in FEATURES)])
    query = sql.SQL(
        "COPY (SELECT r.* FROM profile_snapshots s, json_to_record(s.body::json) AS r("
        + record + ") WHERE s.window_days = {} AND s.as_of = {} ORDER BY s.vehicle_id)"
        " TO STDOUT (FORMAT CSV, HEADER)").format(window, as_of)
    async with conn.cursor() as cur, cur.copy(query) as copy:
        async for data in copy:
            yield bytes(data)
