"""The readings of a day that rules need at its end: the odometer, the engine hours and
the condition aggregates (``features.conditions``), kept current without reading a day's
samples at every derivation pass."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from decoders.catalog import load_catalog
from features.conditions import day_aggregates_sql, merge_aggregates, mergeable
from timeseries.writer import HOUR_MS  # what a dirty hour is

START = load_catalog().signals["Vehicle.LowVoltageSystemState"].values.index("START")


def day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """UTC ms of local midnight at the start and end of ``day``."""
    lo = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)


async def day_ends(conn: psycopg.AsyncConnection, vid: int, days: list[date], tz: ZoneInfo,
                    hours: list[int]) -> dict[date, tuple[Any, Any, Any]]:
    """Day-end odometer, condition aggregates and engine hours of the days that have samples.

    A day already stored takes only the rows of its dirty hours (samples are only ever
    added, and every added row is in a dirty hour), merged into what is stored: a day's
    rows are read once, not at every pass. A day not stored yet is read whole."""
    cur = await conn.execute(
        "SELECT day, odometer_km, conditions, engine_hours FROM daily_usage"
        " WHERE vehicle_id = %s AND day = ANY(%s)", (vid, days))
    stored = {d: (odo, cond or {}, h) for d, odo, cond, h in await cur.fetchall()
              if mergeable(cond or {})}
    spans: list[tuple[date, int, int]] = []
    for day in days:
        lo, hi = day_bounds(day, tz)
        if day not in stored:
            spans.append((day, lo, hi))
            continue
        spans += [(day, max(lo, h * HOUR_MS), min(hi, (h + 1) * HOUR_MS)) for h in hours
                  if h * HOUR_MS < hi and (h + 1) * HOUR_MS > lo]
    cur = await conn.execute(
        # OFFSET 0 keeps the lateral subquery a subquery: one index range scan per span,
        # also in the generic plan of the prepared statement (a join is planned as a scan
        # of every sample of the vehicle, filtered)
        sql.SQL("SELECT r.day, max(odometer_km), {}, max(engine_hours)"
                " FROM unnest(%(d)s::date[], %(lo)s::bigint[], %(hi)s::bigint[]) AS r(day, lo, hi)"
                " CROSS JOIN LATERAL (SELECT * FROM samples WHERE vehicle_id = %(v)s"
                " AND ts >= to_timestamp(r.lo / 1000.0) AND ts < to_timestamp(r.hi / 1000.0)"
                " OFFSET 0) AS s GROUP BY 1").format(day_aggregates_sql()),
        {"d": [s[0] for s in spans], "lo": [s[1] for s in spans],
         "hi": [s[2] for s in spans], "v": vid, "start": START})
    found = {d: (odo, cond or {}, h) for d, odo, cond, h in await cur.fetchall()}
    quiet = [d for d in stored if d not in found]  # stored, nothing new: still there?
    if quiet:
        bounds = [day_bounds(d, tz) for d in quiet]
        cur = await conn.execute(
            "SELECT r.day FROM unnest(%s::date[], %s::bigint[], %s::bigint[]) AS r(day, lo, hi)"
            " WHERE EXISTS (SELECT 1 FROM samples WHERE vehicle_id = %s"
            " AND ts >= to_timestamp(r.lo / 1000.0) AND ts < to_timestamp(r.hi / 1000.0))",
            (quiet, [b[0] for b in bounds], [b[1] for b in bounds], vid))
        found.update({r[0]: (None, {}, None) for r in await cur.fetchall()})
    out = {}
    for day, (odo, cond, h) in found.items():
        old = stored.get(day, (None, {}, None))
        odo, h = _larger(old[0], odo), _larger(old[2], h)
        merged = merge_aggregates(old[1], cond)
        out[day] = (odo, Jsonb(merged) if merged else None, h)
    return out


def _larger(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


