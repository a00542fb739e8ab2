"""Trips, refuel/charge events and daily usage, recomputed for exactly the affected region.

When new samples land in [lo, hi], the region to redo runs from the last ignition-OFF row
before ``lo`` to the first one at or after ``hi`` (a trip never spans an OFF row), so late,
duplicate or reordered data gives the same trips as data that arrived in order, and a
streaming vehicle costs one trip's worth of rows per pass, not its history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from decoders.catalog import load_catalog
from features.day_ends import day_bounds, day_ends
from features.trips import (
    IGNITION_OFF,
    Samples,
    Trip,
    TripRules,
    energy_events,
    night_seconds,
    segment,
)

DAY_MS = 86_400_000
_COLUMNS = ("speed_kmh", "odometer_km", "ignition", "latitude", "longitude", "accel_long_ms2",
            "fuel_pct", "soc_pct", "is_charging")


@dataclass(frozen=True, slots=True)
class Region:
    """The half-open-on-the-left span (lo, hi] of samples that was re-derived."""

    lo_ms: int
    hi_ms: int


def local_day(t_ms: int, tz: ZoneInfo) -> date:
    """The vehicle's local calendar day at ``t_ms``."""
    return datetime.fromtimestamp(t_ms / 1000, tz).date()


async def _region(conn: psycopg.AsyncConnection, vid: int, lo_ms: int, hi_ms: int) -> Region:
    """From the last ignition-off sample before ``lo_ms`` to the first at or after ``hi_ms``
    (a day beyond when there is none): both asked before either is read, so that in
    pipeline mode they share one round trip."""
    ends = [(lo_ms, "<", "max", -DAY_MS), (hi_ms, ">=", "min", DAY_MS)]
    curs = []
    for t_ms, op, agg, lim in ends:
        lo, hi = sorted((t_ms, t_ms + lim))
        curs.append(await conn.execute(
            f"SELECT (extract(epoch FROM {agg}(ts)) * 1000)::bigint FROM samples"
            f" WHERE vehicle_id = %s AND ts {op} to_timestamp(%s / 1000.0)"
            " AND ts >= to_timestamp(%s / 1000.0) AND ts <= to_timestamp(%s / 1000.0)"
            " AND ignition = ANY(%s)",
            (vid, t_ms, lo, hi, list(IGNITION_OFF))))
    found = []
    for cur, (t_ms, _, _, lim) in zip(curs, ends, strict=True):
        row = await cur.fetchone()
        found.append(int(row[0]) if row and row[0] is not None else t_ms + lim)
    return Region(found[0], found[1])


async def load_samples(conn: psycopg.AsyncConnection, vid: int, lo_ms: int,
                       hi_ms: int) -> Samples:
    """Samples with lo_ms <= ts <= hi_ms, in time order, as arrays."""
    cols = ", ".join(_COLUMNS)
    cur = await conn.execute(
        f"SELECT (extract(epoch FROM ts) * 1000)::bigint, {cols} FROM samples"
        " WHERE vehicle_id = %s AND ts >= to_timestamp(%s / 1000.0)"
        " AND ts <= to_timestamp(%s / 1000.0) ORDER BY ts",
        (vid, lo_ms, hi_ms),
    )
    rows = await cur.fetchall()
    if not rows:
        empty = np.zeros(0)
        return Samples(np.zeros(0, dtype=np.int64), *([empty] * len(_COLUMNS)))
    arr = np.array(rows, dtype=np.float64)  # None becomes NaN
    return Samples(arr[:, 0].astype(np.int64), *(arr[:, i + 1] for i in range(len(_COLUMNS))))


async def recompute_region(conn: psycopg.AsyncConnection, vid: int, lo_ms: int, hi_ms: int,
                           tz: ZoneInfo, rules: TripRules) -> tuple[Region, set[date]]:
    """Redo trips and energy events around [lo_ms, hi_ms]; return the region and the local
    days whose daily usage must be recomputed."""
    region = await _region(conn, vid, lo_ms, hi_ms)
    s = await load_samples(conn, vid, region.lo_ms, region.hi_ms)
    trips, _dropped = segment(s, rules)
    trips = [t for t in trips if region.lo_ms < t.start_ms <= region.hi_ms]
    args = (vid, region.lo_ms, region.hi_ms)
    cur = await conn.execute(
        "DELETE FROM trips WHERE vehicle_id = %s AND start_ts > to_timestamp(%s / 1000.0)"
        " AND start_ts <= to_timestamp(%s / 1000.0) RETURNING local_day", args)
    days = {r[0] for r in await cur.fetchall()}
    await conn.execute(
        "DELETE FROM energy_events WHERE vehicle_id = %s AND ts > to_timestamp(%s / 1000.0)"
        " AND ts <= to_timestamp(%s / 1000.0)", args)
    if trips:
        await _insert_trips(conn, vid, s, trips, tz)
    energy = energy_events(s, region.lo_ms + 1)
    if energy:
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO energy_events (vehicle_id, ts, kind, local_day)"
                " VALUES (%s, to_timestamp(%s / 1000.0), %s, %s) ON CONFLICT DO NOTHING",
                [(vid, t, kind, local_day(t, tz)) for t, kind in energy])
    first = local_day(max(region.lo_ms, lo_ms - DAY_MS), tz)
    last = local_day(min(region.hi_ms, hi_ms + DAY_MS), tz)
    days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
    days.update(local_day(t.start_ms, tz) for t in trips)
    return region, days


async def _insert_trips(conn: psycopg.AsyncConnection, vid: int, s: Samples, trips: list[Trip],
                        tz: ZoneInfo) -> None:
    rows = []
    for t in trips:
        start_local = datetime.fromtimestamp(t.start_ms / 1000, tz)
        offset = start_local.utcoffset() or timedelta(0)
        rows.append((
            vid, t.start_ms, t.end_ms, start_local.date(), start_local.hour, t.km, t.km_source,
            t.start_odometer, t.end_odometer, t.duration_s, t.max_speed, t.above_90_s,
            night_seconds(s.ts[t.rows], offset.total_seconds()), t.harsh_brakes,
            t.harsh_accels, t.fuel_used_pct, t.energy_used_pct, t.excluded_deltas, t.end_lat,
            t.end_lon))
    async with conn.cursor() as c:
        await c.executemany(
            "INSERT INTO trips (vehicle_id, start_ts, end_ts, local_day, start_local_hour, km,"
            " km_source, start_odometer, end_odometer, drive_s, max_speed, above_90_s,"
            " night_s, harsh_brakes, harsh_accels, fuel_used_pct, energy_used_pct,"
            " excluded_deltas, end_lat, end_lon) VALUES (%s, to_timestamp(%s / 1000.0),"
            " to_timestamp(%s / 1000.0), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s)", rows)


async def recompute_days(conn: psycopg.AsyncConnection, vid: int, days: set[date],
                         tz: ZoneInfo, hours: list[int]) -> None:
    """Daily usage of ``days`` from trips, energy events, cockpit events and, for the
    day-end readings, the samples of the dirty ``hours`` (UTC hour numbers)."""
    if not days:
        return
    day_end = await day_ends(conn, vid, sorted(days), tz, hours)
    present = set(day_end)  # the touched days that still have samples
    gone = sorted(days - present)
    if gone:
        await conn.execute("DELETE FROM daily_usage WHERE vehicle_id = %s AND day = ANY(%s)",
                           (vid, gone))
    if not present:
        return
    day_list = sorted(present)
    lo = day_bounds(day_list[0], tz)[0]
    hi = day_bounds(day_list[-1], tz)[1]
    # the three reads are asked before any is read: one round trip in pipeline mode
    trips_cur = await conn.execute(
        "SELECT local_day, sum(km), sum(drive_s), count(*), max(max_speed), sum(above_90_s),"
        " sum(night_s), sum(harsh_brakes), sum(harsh_accels), sum(fuel_used_pct),"
        " sum(energy_used_pct),"
        " count(*) FILTER (WHERE extract(isodow FROM local_day) < 6"
        "   AND (start_local_hour BETWEEN 6 AND 8 OR start_local_hour BETWEEN 16 AND 18))"
        " FROM trips WHERE vehicle_id = %s AND local_day = ANY(%s) GROUP BY 1",
        (vid, day_list))
    energy_cur = await conn.execute(
        "SELECT local_day, count(*) FILTER (WHERE kind = 'refuel'),"
        " count(*) FILTER (WHERE kind = 'charge') FROM energy_events"
        " WHERE vehicle_id = %s AND local_day = ANY(%s) GROUP BY 1", (vid, day_list))
    cur = await conn.execute(
        "SELECT (ts AT TIME ZONE %s)::date, type, count(*) FROM cockpit_events"
        " WHERE vehicle_id = %s AND ts >= to_timestamp(%s / 1000.0)"
        " AND ts < to_timestamp(%s / 1000.0) GROUP BY 1, 2", (tz.key, vid, lo, hi))
    trip_agg = {r[0]: r[1:] for r in await trips_cur.fetchall()}
    energy = {r[0]: r[1:] for r in await energy_cur.fetchall()}
    domains = load_catalog().event_domains
    cockpit: dict[date, dict[str, int]] = {}
    for day, kind, n in await cur.fetchall():
        dom = domains.get(kind, "other")
        per_day = cockpit.setdefault(day, {})
        per_day[dom] = per_day.get(dom, 0) + int(n)
    known = set(load_catalog().domains)  # unknown event types count as "other": not one
    first_use = {dom: min(d for d, per in cockpit.items() if per.get(dom))
                 for dom in {k for per in cockpit.values() for k, n in per.items()
                             if n and k in known}}
    if first_use:
        await conn.execute(
            "INSERT INTO vehicle_domains (vehicle_id, domain, first_day) SELECT %(v)s, u.d,"
            " u.f FROM unnest(%(d)s::text[], %(f)s::date[]) AS u(d, f)"
            " ON CONFLICT (vehicle_id, domain) DO UPDATE SET"
            " first_day = least(vehicle_domains.first_day, EXCLUDED.first_day)",
            {"v": vid, "d": list(first_use), "f": list(first_use.values())})
    rows = []
    for day in day_list:
        t = trip_agg.get(day, (0.0, 0.0, 0, 0.0, 0.0, 0.0, 0, 0, 0.0, 0.0, 0))
        e = energy.get(day, (0, 0))
        rows.append((vid, day, round(float(t[0]), 4), float(t[1]), int(t[2]), float(t[3]),
                     float(t[4]), float(t[5]), int(t[6]), int(t[7]), float(t[8]), float(t[9]),
                     int(e[0]), int(e[1]), int(t[10]), json.dumps(cockpit.get(day, {})),
                     *day_end.get(day, (None, None, None))))
    async with conn.cursor() as c:
        await c.executemany(
            "INSERT INTO daily_usage (vehicle_id, day, km, drive_s, trips, max_speed, above_90_s,"
            " night_s, harsh_brakes, harsh_accels, fuel_used_pct, energy_used_pct, refuels,"
            " charges, commute_trips, cockpit, odometer_km, conditions, engine_hours) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s,"
            " %s) ON CONFLICT"
            " (vehicle_id, day)"
            " DO UPDATE SET"
            " km = EXCLUDED.km, drive_s = EXCLUDED.drive_s, trips = EXCLUDED.trips,"
            " max_speed = EXCLUDED.max_speed, above_90_s = EXCLUDED.above_90_s,"
            " night_s = EXCLUDED.night_s, harsh_brakes = EXCLUDED.harsh_brakes,"
            " harsh_accels = EXCLUDED.harsh_accels, fuel_used_pct = EXCLUDED.fuel_used_pct,"
            " energy_used_pct = EXCLUDED.energy_used_pct, refuels = EXCLUDED.refuels,"
            " charges = EXCLUDED.charges, commute_trips = EXCLUDED.commute_trips,"
            " cockpit = EXCLUDED.cockpit, odometer_km = EXCLUDED.odometer_km,"
            " conditions = EXCLUDED.conditions, engine_hours = EXCLUDED.engine_hours,"
            " updated_at = now()", rows)

