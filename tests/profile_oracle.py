"""The usage profile computed in Python, one vehicle at a time, as it was before the
profile moved into one SQL statement (features/profile.py): kept as the oracle that the
statement must agree with on simulator data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import psycopg

from features.segments import maturity
from features.session_store import Home

DOMAINS = ("navigation", "media", "voice", "phone", "projection", "climate", "adas", "apps")


@cache
def capacities(model: str | None) -> tuple[float, float]:
    """(tank litres, battery kWh) of a model."""
    raw = json.loads((resources.files("features") / "data" / "models.json").read_text())
    spec = {**raw["default"], **raw["models"].get(model or "", {})}
    return float(spec["tank_l"]), float(spec["battery_kwh"])


@dataclass(slots=True)
class DailyRows:
    """Daily usage of two consecutive windows as arrays (index 0 = first day)."""

    days: list[date]
    km: np.ndarray
    drive_s: np.ndarray
    trips: np.ndarray
    max_speed: np.ndarray
    above_90_s: np.ndarray
    night_s: np.ndarray
    harsh: np.ndarray
    fuel_pct: np.ndarray
    energy_pct: np.ndarray
    refuels: np.ndarray
    charges: np.ndarray
    commute: np.ndarray
    cockpit: list[dict[str, int]]


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def compute(d: DailyRows, window: int, as_of: date, model: str | None,
            delivered_on: date | None, last_drive: date | None,
            odometer_km: float | None, activity: str | None,
            lifetime_domains: int = 0) -> dict[str, Any]:
    """Features of the last ``window`` days of ``d`` (``d`` spans 2 windows ending as_of)."""
    cur = slice(window, 2 * window)
    km = float(d.km[cur].sum())
    prev_km = float(d.km[:window].sum())
    drive_s = float(d.drive_s[cur].sum())
    trips = int(d.trips[cur].sum())
    hours = drive_s / 3600
    weekend = np.array([day.weekday() >= 5 for day in d.days[cur]], dtype=bool)
    tank_l, battery_kwh = capacities(model)
    domains = {k: 0 for k in DOMAINS}
    for day in d.cockpit[cur]:
        for k, n in day.items():
            if k in domains:
                domains[k] += n
    breadth = sum(1 for n in domains.values() if n > 0)
    return {
        "window_days": window, "as_of": as_of.isoformat(),
        "active_days": int((d.trips[cur] > 0).sum()),
        "km_total": round(km, 2), "km_per_day": round(km / window, 2),
        "km_per_active_day": _ratio(km, float((d.trips[cur] > 0).sum())),
        "trips": trips, "trip_km_avg": _ratio(km, trips),
        "trip_minutes_avg": _ratio(drive_s / 60, trips), "drive_hours": round(hours, 3),
        "night_share": _ratio(float(d.night_s[cur].sum()), drive_s),
        "weekend_share": _ratio(float(d.km[cur][weekend].sum()), km),
        "highway_share": _ratio(float(d.above_90_s[cur].sum()), drive_s),
        "commute_share": _ratio(float(d.commute[cur].sum()), trips),
        "max_speed": float(d.max_speed[cur].max(initial=0.0)),
        "harsh_events_per_100km": _ratio(float(d.harsh[cur].sum()) * 100, km),
        "fuel_l_per_100km": _ratio(float(d.fuel_pct[cur].sum()) / 100 * tank_l * 100, km),
        "energy_kwh_per_100km": _ratio(float(d.energy_pct[cur].sum()) / 100 * battery_kwh * 100,
                                       km),
        "refuels": int(d.refuels[cur].sum()), "charging_sessions": int(d.charges[cur].sum()),
        "cockpit_per_drive_hour": {k: _ratio(float(n), hours) or 0.0
                                   for k, n in domains.items()},
        "cockpit_breadth": breadth,
        "days_since_last_drive": (as_of - last_drive).days if last_drive else None,
        "odometer_km": round(odometer_km, 1) if odometer_km is not None else None,
        "km_trend": _ratio(km - prev_km, prev_km),
        "activity": activity,
        "maturity": maturity(delivered_on, as_of, odometer_km, lifetime_domains),
    }


async def load_daily(conn: psycopg.AsyncConnection, vid: int, as_of: date,
                     window: int) -> DailyRows:
    """Two windows of daily usage ending ``as_of`` (missing days are zeros)."""
    first = as_of - timedelta(days=2 * window - 1)
    days = [first + timedelta(days=i) for i in range(2 * window)]
    n = len(days)
    z = [np.zeros(n) for _ in range(12)]
    cockpit: list[dict[str, int]] = [{} for _ in range(n)]
    cur = await conn.execute(
        "SELECT day, km, drive_s, trips, max_speed, above_90_s, night_s,"
        " harsh_brakes + harsh_accels, fuel_used_pct, energy_used_pct, refuels, charges,"
        " commute_trips, cockpit FROM daily_usage WHERE vehicle_id = %s AND day >= %s"
        " AND day <= %s", (vid, first, as_of))
    for row in await cur.fetchall():
        i = (row[0] - first).days
        for k in range(12):
            z[k][i] = row[k + 1]
        cockpit[i] = row[13]
    return DailyRows(days, z[0], z[1], z[2], z[3], z[4], z[5], z[6], z[7], z[8], z[9], z[10],
                     z[11], cockpit)


async def oracle_profile(conn: psycopg.AsyncConnection, vid: int, window: int,
                          as_of: date) -> dict[str, Any]:
    """The profile of one vehicle from the daily rollups, computed in Python."""
    cur = await conn.execute(
        "SELECT v.model, v.delivered_on, v.activity,"
        " (SELECT max(local_day) FROM trips WHERE vehicle_id = v.id AND local_day <= %s),"
        " coalesce((SELECT end_odometer FROM trips WHERE vehicle_id = v.id AND local_day <= %s"
        "  AND end_odometer IS NOT NULL ORDER BY start_ts DESC LIMIT 1), v.odometer_km),"
        " (SELECT activity FROM segment_days WHERE vehicle_id = v.id AND day <= %s"
        "  ORDER BY day DESC LIMIT 1)"
        " FROM vehicles v WHERE v.id = %s", (as_of, as_of, as_of, vid))
    row = await cur.fetchone()
    assert row is not None
    model, delivered_on, _activity_now, last_drive, odometer, activity = row
    daily = await load_daily(conn, vid, as_of, window)
    cur = await conn.execute("SELECT cockpit FROM daily_usage WHERE vehicle_id = %s"
                             " AND day <= %s", (vid, as_of))
    used = {k for (c,) in await cur.fetchall() for k, n in c.items() if n and k in DOMAINS}
    out = compute(daily, window, as_of, model, delivered_on, last_drive, odometer, activity,
                  len(used))
    out.update(await _charging(conn, vid, window, as_of,
                               float(daily.km[window:2 * window].sum())))
    return out


async def _charging(conn: psycopg.AsyncConnection, vid: int, window: int, as_of: date,
                    km: float) -> dict[str, Any]:
    """The charging sessions of the window: kWh, per 100 km, share at the home."""
    cur = await conn.execute("SELECT home_lat, home_lon FROM vehicles WHERE id = %s", (vid,))
    home = Home(*(await cur.fetchone() or (None, None)))
    cur = await conn.execute(
        "SELECT added, latitude, longitude FROM energy_sessions WHERE vehicle_id = %s"
        " AND kind = 'charge' AND local_day > %s AND local_day <= %s",
        (vid, as_of - timedelta(days=window), as_of))
    rows = await cur.fetchall()
    kwh = sum(r[0] or 0.0 for r in rows)
    places = [p for p in (home.place(r[1], r[2]) for r in rows) if p is not None]
    return {"charged_kwh": round(kwh, 3), "charged_kwh_per_100km": _ratio(kwh * 100, km),
            "home_charging_share": _ratio(places.count("home"), len(places))}
