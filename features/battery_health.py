"""Traction-battery state of health: each vehicle's daily readings, its degradation trend,
and the fleet's distribution by model and by age, from the daily rollup (the day's lowest
``StateOfHealth`` reading, kept with the service conditions in ``daily_usage``).

The trend is the least-squares slope of the daily values, in points a year, over the last
``WINDOW_DAYS`` up to the day asked for, counted from the last rise of more than
``REPAIR_RISE`` points (a repaired or replaced pack starts a new trend); it needs
``MIN_READINGS`` days spanning ``MIN_SPAN_DAYS``. The threshold is the service rule's
(``traction_battery_health`` in ``features/data/conditions.json``), so a vehicle counted
below it here is one the service loop makes due.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from functools import cache
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from features.conditions import load_conditions

WINDOW_DAYS = 180
REPAIR_RISE = 2.0
MIN_READINGS, MIN_SPAN_DAYS = 5, 14
AGE_BANDS = ((0, "0-1y"), (1, "1-2y"), (2, "2-3y"), (3, "3-5y"), (5, "5y+"))
Group = Literal["model", "age"]
_KEY = "min:battery_soh_pct"

# per vehicle: its readings since the last repair in the window, the slope, the latest
_TRENDS = """
WITH r AS (
    SELECT vehicle_id, day, (conditions ->> %(key)s)::float8 AS soh FROM daily_usage
    WHERE {where} AND day > %(as_of)s::date - %(window)s AND day <= %(as_of)s
      AND conditions ? %(key)s
), j AS (
    SELECT *, soh - lag(soh) OVER (PARTITION BY vehicle_id ORDER BY day) AS rise FROM r
), since AS (
    SELECT vehicle_id, max(day) FILTER (WHERE rise > %(repair)s) AS repaired FROM j
    GROUP BY vehicle_id
)
SELECT r.vehicle_id, count(*)::int AS readings, min(r.day) AS since, max(r.day) AS latest_day,
       (array_agg(r.soh ORDER BY r.day DESC))[1] AS latest,
       CASE WHEN count(*) >= %(min_n)s AND max(r.day) - min(r.day) >= %(min_span)s
            THEN regr_slope(r.soh, (r.day - %(as_of)s::date)::float8) * 365 END AS per_year
FROM r JOIN since USING (vehicle_id)
WHERE since.repaired IS NULL OR r.day >= since.repaired
GROUP BY r.vehicle_id
"""


@cache
def threshold() -> float:
    """The state of health below which the service rule makes a battery check due."""
    rule = next(c for c in load_conditions() if c.name == "traction_battery_health")
    assert rule.value is not None
    return float(rule.value)


def _params(as_of: date) -> dict[str, Any]:
    """The parameters of ``_TRENDS``."""
    return {"key": _KEY, "as_of": as_of, "window": WINDOW_DAYS, "repair": REPAIR_RISE,
            "min_n": MIN_READINGS, "min_span": MIN_SPAN_DAYS}


def _projection(latest: float, latest_day: date, per_year: float | None) -> str | None:
    """The day the trend reaches the threshold (None if it is not falling or is below)."""
    if per_year is None or per_year >= 0 or latest < threshold():
        return None
    days = (latest - threshold()) / (-per_year / 365)
    return (latest_day + timedelta(days=round(days))).isoformat()


async def vehicle_battery(conn: psycopg.AsyncConnection, vid: int, as_of: date
                          ) -> dict[str, Any]:
    """One vehicle's readings in the window, latest value, trend and projection."""
    args = {**_params(as_of), "v": vid}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT day, (conditions ->> %(key)s)::float8 AS soh FROM daily_usage"
            " WHERE vehicle_id = %(v)s AND day > %(as_of)s::date - %(window)s"
            " AND day <= %(as_of)s AND conditions ? %(key)s ORDER BY day", args)
        readings = [{"day": r["day"].isoformat(), "soh_pct": r["soh"]}
                    for r in await cur.fetchall()]
        await cur.execute(_TRENDS.format(where="vehicle_id = %(v)s"), args)
        t = await cur.fetchone()
    body: dict[str, Any] = {"as_of": as_of.isoformat(), "threshold_pct": threshold(),
                            "readings": readings, "latest": None}
    if t is not None:
        per_year = None if t["per_year"] is None else round(float(t["per_year"]), 3)
        body["latest"] = {"day": t["latest_day"].isoformat(), "soh_pct": t["latest"]}
        body.update(trend_since=t["since"].isoformat(), trend_pct_per_year=per_year,
                    below_threshold=t["latest"] < threshold(),
                    projected_below_threshold_on=_projection(
                        t["latest"], t["latest_day"],
                        None if per_year is None else float(t["per_year"])))
    return body


def _band(years: float) -> str:
    return [name for lo, name in AGE_BANDS if years >= lo][-1]


def _rank(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[max(1, math.ceil(len(values) * q)) - 1]


async def fleet_battery(conn: psycopg.AsyncConnection, by: Group, as_of: date
                        ) -> list[dict[str, Any]]:
    """Per model or age band (years from delivery to ``as_of``): vehicles with a reading in
    the window, median / p10 / p90 of their latest health, how many are below the
    threshold, and the median trend of those with one."""
    args = _params(as_of)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT v.model, v.delivered_on, t.latest, t.per_year FROM"
            f" ({_TRENDS.format(where='true')}) t JOIN vehicles v ON v.id = t.vehicle_id", args)
        rows = await cur.fetchall()
    groups: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if by == "model":
            key = r["model"] or "unknown"
        else:
            key = "unknown" if r["delivered_on"] is None else \
                _band((as_of - r["delivered_on"]).days / 365.25)
        g = groups.setdefault(key, {"latest": [], "trend": []})
        g["latest"].append(float(r["latest"]))
        if r["per_year"] is not None:
            g["trend"].append(float(r["per_year"]))
    out = []
    for key in sorted(groups):
        latest, trend = sorted(groups[key]["latest"]), sorted(groups[key]["trend"])
        out.append({"group": key, "vehicles": len(latest),
                    "soh_median": _rank(latest, 0.5), "soh_p10": _rank(latest, 0.1),
                    "soh_p90": _rank(latest, 0.9),
                    "below_threshold": sum(1 for x in latest if x < threshold()),
                    "trend_median_pct_per_year": round(_rank(trend, 0.5), 3) if trend else None})
    return out
