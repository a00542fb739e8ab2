"""Dealer visits in the database: found in a vehicle's trips on settled days, stored once,
each one a ``dealer_visit`` event on the feed.

A stay is judged once the day the car *left* has settled, so reordering within the settling
hour cannot split or move it. Each pass reads the trips from the day of the last trip the
previous pass saw (``vehicles.visits_from``): that trip's stay could not be judged yet
because the car had not left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise

import psycopg

from features import dealers, feed, owners
from features.reminder_store import VehicleRef
from features.visits import Stay, find_visits


@dataclass(frozen=True, slots=True)
class StoredVisit:
    """A visit as reminders see it."""

    id: int
    day: date
    dealer_id: str


def _iso(ms: int) -> str:
    return feed.iso_z(datetime.fromtimestamp(ms / 1000, UTC))


async def record_visits(conn: psycopg.AsyncConnection, v: VehicleRef, settled_to: date,
                        min_minutes: float) -> int:
    """Find and store the vehicle's new visits; returns the feed events emitted."""
    cur = await conn.execute("SELECT visits_from FROM vehicles WHERE id = %s", (v.id,))
    row = await cur.fetchone()
    frm: date = row[0] if row and row[0] is not None else date.min
    cur = await conn.execute(
        "SELECT (extract(epoch FROM start_ts) * 1000)::bigint,"
        " (extract(epoch FROM end_ts) * 1000)::bigint, local_day, end_lat, end_lon"
        " FROM trips WHERE vehicle_id = %s AND local_day >= %s AND local_day <= %s"
        " ORDER BY start_ts", (v.id, frm, settled_to))
    trips = await cur.fetchall()
    if not trips:
        return 0
    stays = [Stay(a[1], b[0], a[3], a[4]) for a, b in pairwise(trips)
             if a[3] is not None and a[4] is not None]
    emitted = 0
    if stays:
        sites = await dealers.sites(conn)
        for visit in find_visits(stays, sites, min_minutes):
            day = datetime.fromtimestamp(visit.arrived_ms / 1000, v.tz).date()
            cur = await conn.execute(
                "INSERT INTO dealer_visits (vehicle_id, dealer_id, arrived_at, left_at, day,"
                " open_minutes, distance_m) VALUES (%(v)s, %(d)s, to_timestamp(%(a)s / 1000.0),"
                " to_timestamp(%(l)s / 1000.0), %(day)s, %(m)s, %(dist)s)"
                " ON CONFLICT (vehicle_id, arrived_at) DO NOTHING RETURNING id",
                {"v": v.id, "d": visit.dealer_id, "a": visit.arrived_ms, "l": visit.left_ms,
                 "day": day, "m": visit.open_minutes, "dist": visit.distance_m})
            new = await cur.fetchone()
            if new is None:
                continue
            owner = await owners.owner_on(conn, v.id, day, v.owner_id)
            payload = {"visit_id": str(new[0]), "vin": v.vin, "owner_id": owner,
                       "dealer_id": visit.dealer_id, "own_dealer": visit.dealer_id == v.dealer_id,
                       "day": day.isoformat(), "arrived_at": _iso(visit.arrived_ms),
                       "left_at": _iso(visit.left_ms), "open_minutes": visit.open_minutes,
                       "distance_m": visit.distance_m}
            emitted += await feed.emit(conn, f"dealer_visit:{v.vin}:{visit.arrived_ms}",
                                       "dealer_visit", v.id,
                                       datetime.fromtimestamp(visit.left_ms / 1000, UTC),
                                       payload)
    if trips[-1][2] != frm:
        await conn.execute("UPDATE vehicles SET visits_from = %s WHERE id = %s",
                           (trips[-1][2], v.id))
    return emitted


async def visits_of(conn: psycopg.AsyncConnection, vid: int) -> list[StoredVisit]:
    """The vehicle's visits by day."""
    cur = await conn.execute("SELECT id, day, dealer_id FROM dealer_visits WHERE vehicle_id = %s"
                             " ORDER BY day, arrived_at", (vid,))
    return [StoredVisit(i, d, dealer) for i, d, dealer in await cur.fetchall()]


async def visits_json(conn: psycopg.AsyncConnection, vid: int) -> list[dict[str, object]]:
    """The vehicle's visits, JSON-ready."""
    cur = await conn.execute(
        "SELECT id, dealer_id, day, (extract(epoch FROM arrived_at) * 1000)::bigint,"
        " (extract(epoch FROM left_at) * 1000)::bigint, open_minutes, distance_m"
        " FROM dealer_visits WHERE vehicle_id = %s ORDER BY arrived_at", (vid,))
    return [{"visit_id": str(i), "dealer_id": d, "day": day.isoformat(), "arrived_at": _iso(a),
             "left_at": _iso(b), "open_minutes": m, "distance_m": dist}
            for i, d, day, a, b, m, dist in await cur.fetchall()]
