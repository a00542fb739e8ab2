"""Owners as first-class records (One ID): type, contact channel, merges of duplicate ids,
and the periods in which each owner held each vehicle.

A merge keeps one surviving id: the duplicates point at it (``merged_into``, always one hop:
a survivor merged later carries its own duplicates along), their periods, vehicles and
reminders move to it, and every lookup of a merged id answers with the survivor. A vehicle
has at most one open period; registering it with another owner ends that period on the
transfer day and opens the new owner's, so the car keeps its history while each owner's
layer (cell, lifetime, profile: ``features/owner_cells.py``) starts on their own day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg

from features import feed

OWNER_TYPES = ("private", "commercial_fleet", "rental")


class OwnerError(ValueError):
    """An owner request is invalid; the message names the field."""


async def resolve(conn: psycopg.AsyncConnection, owner_id: str) -> str:
    """The surviving id of ``owner_id`` (itself unless merged)."""
    cur = await conn.execute("SELECT merged_into FROM owners WHERE owner_id = %s", (owner_id,))
    row = await cur.fetchone()
    return str(row[0]) if row is not None and row[0] is not None else owner_id


async def ensure(conn: psycopg.AsyncConnection, owner_id: str, owner_type: str | None = None,
                 channel: str | None = None) -> str:
    """Create the owner if new; set type and channel when given. Returns the surviving id."""
    if owner_type is not None and owner_type not in OWNER_TYPES:
        raise OwnerError(f"field 'owner_type' must be one of {', '.join(OWNER_TYPES)}")
    survivor = await resolve(conn, owner_id)
    await conn.execute(
        "INSERT INTO owners (owner_id, owner_type, channel) VALUES"
        " (%(id)s, coalesce(%(type)s, 'private'), %(channel)s) ON CONFLICT (owner_id) DO UPDATE"
        " SET owner_type = coalesce(%(type)s, owners.owner_type),"
        " channel = coalesce(%(channel)s, owners.channel), updated_at = now()",
        {"id": survivor, "type": owner_type, "channel": channel})
    return survivor


async def attach(conn: psycopg.AsyncConnection, vid: int, vin: str, owner_id: str,
                 since: date | None, delivered_on: date | None, until: date | None = None
                 ) -> None:
    """Make ``owner_id`` (a surviving id) the vehicle's owner from ``since``: the first
    owner from delivery, a new one from the transfer day (default today), ending the
    previous period that day; ``until`` ends the owner's period without a successor (export,
    scrappage, end of a lease). Each change is an ``ownership_transferred`` event.
    Idempotent."""
    cur = await conn.execute(
        "SELECT owner_id, from_day, to_day FROM ownership_periods WHERE vehicle_id = %s"
        " ORDER BY from_day DESC LIMIT 1 FOR UPDATE", (vid,))
    last = await cur.fetchone()
    today = datetime.now(UTC).date()
    if last is None:
        await _open(conn, vid, owner_id, since or delivered_on or today)
    elif last[0] != owner_id:
        day = since or (last[2] if last[2] is not None else today)
        if day <= last[1] or (last[2] is not None and day < last[2]):
            raise OwnerError(f"field 'owner_since': {day} is not after the current owner's"
                             f" start {last[1]}" if last[2] is None else
                             f"field 'owner_since': {day} is before the end of the last"
                             f" period {last[2]}")
        if last[2] is None:
            await conn.execute("UPDATE ownership_periods SET to_day = %s WHERE vehicle_id = %s"
                               " AND from_day = %s", (day, vid, last[1]))
        await _open(conn, vid, owner_id, day)
        await _event(conn, vid, vin, day, str(last[0]) if last[2] is None else None, owner_id)
    if until is not None:
        cur = await conn.execute(
            "UPDATE ownership_periods SET to_day = %s WHERE vehicle_id = %s AND owner_id = %s"
            " AND to_day IS NULL AND from_day < %s RETURNING from_day", (until, vid, owner_id,
                                                                       until))
        if await cur.fetchone() is not None:
            await _event(conn, vid, vin, until, owner_id, None)
        else:
            cur = await conn.execute("SELECT 1 FROM ownership_periods WHERE vehicle_id = %s"
                                     " AND owner_id = %s AND to_day = %s", (vid, owner_id, until))
            if await cur.fetchone() is None:
                raise OwnerError(f"field 'owner_until': {until} does not end an open period"
                                 f" of {owner_id!r} after its start")


async def _open(conn: psycopg.AsyncConnection, vid: int, owner_id: str, day: date) -> None:
    await conn.execute("INSERT INTO ownership_periods (vehicle_id, owner_id, from_day)"
                       " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (vid, owner_id, day))


async def _event(conn: psycopg.AsyncConnection, vid: int, vin: str, day: date,
                 frm: str | None, to: str | None) -> None:
    await feed.emit(conn, f"transfer:{vid}:{day}:{to}", "ownership_transferred", vid,
                    datetime.combine(day, datetime.min.time(), UTC),
                    {"vin": vin, "day": day.isoformat(), "from_owner_id": frm,
                     "to_owner_id": to})


async def merge(conn: psycopg.AsyncConnection, survivor: str, duplicates: list[str]
                ) -> list[str]:
    """Merge ``duplicates`` into ``survivor`` (idempotent; must run in a transaction).
    Returns the ids merged by this call."""
    target = await resolve(conn, survivor)
    cur = await conn.execute("SELECT 1 FROM owners WHERE owner_id = %s", (target,))
    if await cur.fetchone() is None:
        raise OwnerError(f"owner {survivor!r} is unknown")
    merged = []
    for dup in dict.fromkeys(duplicates):
        cur = await conn.execute("SELECT merged_into FROM owners WHERE owner_id = %s FOR UPDATE",
                                 (dup,))
        row = await cur.fetchone()
        if row is None:
            raise OwnerError(f"field 'duplicates': owner {dup!r} is unknown")
        if dup == target:
            raise OwnerError(f"field 'duplicates': {dup!r} is the surviving id")
        if row[0] is not None:
            if row[0] != target:
                raise OwnerError(f"field 'duplicates': {dup!r} was merged into {row[0]!r}")
            continue
        for table in ("ownership_periods", "vehicles", "service_reminders", "owner_engagement"):
            await conn.execute(f"UPDATE {table} SET owner_id = %s WHERE owner_id = %s",
                               (target, dup))
        await conn.execute("UPDATE owners SET merged_into = %s, updated_at = now()"
                           " WHERE owner_id = %s OR merged_into = %s", (target, dup, dup))
        merged.append(dup)
    return merged


async def record(conn: psycopg.AsyncConnection, owner_id: str) -> dict[str, Any] | None:
    """An owner's record (by any of its ids), with the ids merged into it."""
    target = await resolve(conn, owner_id)
    cur = await conn.execute(
        "SELECT o.owner_id, o.owner_type, o.channel, coalesce((SELECT array_agg(m.owner_id"
        " ORDER BY m.owner_id) FROM owners m WHERE m.merged_into = o.owner_id), '{}')"
        " FROM owners o WHERE o.owner_id = %s", (target,))
    row = await cur.fetchone()
    if row is None:
        return None
    return {"owner_id": row[0], "type": row[1], "channel": row[2], "merged_from": list(row[3])}


async def owner_on(conn: psycopg.AsyncConnection, vid: int, day: date,
                   default: str | None) -> str | None:
    """The vehicle's owner on ``day`` by its periods (events are attributed to the owner
    of the period they happened in); ``default`` when no period covers the day."""
    cur = await conn.execute(
        "SELECT owner_id FROM ownership_periods WHERE vehicle_id = %s AND from_day <= %s"
        " AND (to_day IS NULL OR to_day > %s)", (vid, day, day))
    row = await cur.fetchone()
    return str(row[0]) if row is not None else default
