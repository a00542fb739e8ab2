"""Cockpit feature use per vehicle and local day, recomputed whole for the days that changed,
and the first day each vehicle used each feature (it only moves earlier: stored events are
never taken back except by retention, which should not erase a discovery).

Each touched day is read again from the stored cockpit events (already one per vehicle,
time and type), so duplicates, reordering and late backlogs give the same rows as data
that arrived once and in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg

from features.cockpit_features import FeatureCatalog, load_feature_catalog
from features.day_ends import day_bounds


@dataclass(slots=True)
class FeatureDay:
    """One feature on one day: how often, how long, first and last use."""

    uses: int
    seconds: float
    first: datetime
    last: datetime


def tally(events: Iterable[tuple[date, datetime, str, Mapping[str, object]]],
          catalog: FeatureCatalog) -> dict[tuple[date, str], FeatureDay]:
    """(day, feature) -> its use, from (local day, time, event type, attrs) rows."""
    out: dict[tuple[date, str], FeatureDay] = {}
    for day, ts, kind, attrs in events:
        key = (day, catalog.classify(kind, attrs))
        seconds = catalog.seconds(attrs)
        got = out.get(key)
        if got is None:
            out[key] = FeatureDay(1, seconds, ts, ts)
        else:
            got.uses += 1
            got.seconds += seconds
            got.first, got.last = min(got.first, ts), max(got.last, ts)
    return out


async def recompute_feature_days(conn: psycopg.AsyncConnection, vid: int, days: set[date],
                                 tz: ZoneInfo) -> None:
    """Replace the vehicle's feature rows of ``days`` with a fresh count of their events."""
    if not days:
        return
    ordered = sorted(days)
    lo, hi = day_bounds(ordered[0], tz)[0], day_bounds(ordered[-1], tz)[1]
    cur = await conn.execute(
        "SELECT (ts AT TIME ZONE %(tz)s)::date, ts, type, attrs FROM cockpit_events"
        " WHERE vehicle_id = %(v)s AND ts >= to_timestamp(%(lo)s / 1000.0)"
        " AND ts < to_timestamp(%(hi)s / 1000.0)",
        {"tz": tz.key, "v": vid, "lo": lo, "hi": hi})
    rows = [r for r in await cur.fetchall() if r[0] in days]
    used = tally(rows, load_feature_catalog())
    await conn.execute("DELETE FROM feature_days WHERE vehicle_id = %s AND day = ANY(%s)",
                       (vid, ordered))
    if not used:
        return
    keys = sorted(used)
    await conn.execute(
        "INSERT INTO feature_days (vehicle_id, day, feature, uses, seconds, first_ts, last_ts)"
        " SELECT %(v)s, u.* FROM unnest(%(day)s::date[], %(feature)s::text[], %(uses)s::int[],"
        " %(seconds)s::float8[], %(first)s::timestamptz[], %(last)s::timestamptz[]) AS u",
        {"v": vid, "day": [k[0] for k in keys], "feature": [k[1] for k in keys],
         "uses": [used[k].uses for k in keys], "seconds": [used[k].seconds for k in keys],
         "first": [used[k].first for k in keys], "last": [used[k].last for k in keys]})
    firsts: dict[str, date] = {}
    for day, feature in keys:  # keys are sorted by day: the first seen is the earliest
        firsts.setdefault(feature, day)
    await conn.execute(
        "INSERT INTO vehicle_features (vehicle_id, feature, first_day) SELECT %(v)s, u.f, u.d"
        " FROM unnest(%(f)s::text[], %(d)s::date[]) AS u(f, d) ON CONFLICT (vehicle_id, feature)"
        " DO UPDATE SET first_day = least(vehicle_features.first_day, EXCLUDED.first_day)",
        {"v": vid, "f": list(firsts), "d": list(firsts.values())})
