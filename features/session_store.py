"""Charging sessions and refuels in the database: recomputed for the span new data touched,
read back per vehicle with where they happened (home or public) and a summary.

New samples in [lo, hi] can change a session that started before ``lo`` (its end) or one
that ends after ``hi``. So the span redone runs from the last sample before ``lo`` that does
not report charging to the first such sample after ``hi``: no session crosses either bound,
and every session whose own samples lie in [lo, hi] is found whole, whatever order the data
arrived in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg.rows import dict_row

from features.profile import capacities
from features.rollups import local_day
from features.sessions import (
    HOME_RADIUS_M,
    LevelSamples,
    Session,
    charging_sessions,
    refuels,
)
from features.visits import distance_m

REACH_MS = 3 * 86_400_000
_COLUMNS = ("fuel_pct", "soc_pct", "is_charging", "latitude", "longitude",
            "charge_current_dc_a", "charge_current_ac1_a")


@cache
def capacity(model: str | None) -> tuple[float, float]:
    """(usable tank litres, usable battery kWh) of a model, or the default."""
    caps = json.loads(capacities())
    tank, kwh = caps["models"].get(model or "", caps["default"])
    return float(tank), float(kwh)


async def _ask_bound(conn: psycopg.AsyncConnection, vid: int, t_ms: int, before: bool,
                     near: bool) -> psycopg.AsyncCursor[Any]:
    """Ask for the nearest sample beyond ``t_ms`` that reports not charging, or a fuel level
    while not charging (a car without a battery); ``near``: within reach only."""
    op, agg, reach = ("<", "max", -REACH_MS) if before else (">", "min", REACH_MS)
    lo, hi = sorted((t_ms, t_ms + reach))
    return await conn.execute(
        f"SELECT (extract(epoch FROM {agg}(ts)) * 1000)::bigint FROM samples"
        f" WHERE vehicle_id = %(v)s AND ts {op} to_timestamp(%(t)s / 1000.0)"
        " AND (NOT %(near)s OR (ts >= to_timestamp(%(lo)s / 1000.0)"
        " AND ts <= to_timestamp(%(hi)s / 1000.0)))"
        " AND is_charging IS DISTINCT FROM 1 AND (fuel_pct IS NOT NULL OR is_charging = 0)",
        {"v": vid, "t": t_ms, "near": near, "lo": lo, "hi": hi})


async def _bound(conn: psycopg.AsyncConnection, vid: int, t_ms: int, before: bool,
                 near: psycopg.AsyncCursor[Any]) -> int:
    """The bound on one side from the answer ``near`` to the search within reach (the usual
    case, one short index range), else searched without limit (a car silent for days, a
    long session)."""
    row = await near.fetchone()
    if not (row and row[0] is not None):
        row = await (await _ask_bound(conn, vid, t_ms, before, False)).fetchone()
    if row and row[0] is not None:
        return int(row[0])
    return t_ms + (-REACH_MS if before else REACH_MS)


async def _load(conn: psycopg.AsyncConnection, vid: int, lo_ms: int, hi_ms: int
                ) -> LevelSamples:
    cur = await conn.execute(
        f"SELECT (extract(epoch FROM ts) * 1000)::bigint, {', '.join(_COLUMNS)} FROM samples"
        " WHERE vehicle_id = %s AND ts >= to_timestamp(%s / 1000.0)"
        " AND ts <= to_timestamp(%s / 1000.0)"
        " AND (fuel_pct IS NOT NULL OR soc_pct IS NOT NULL OR is_charging IS NOT NULL)"
        " ORDER BY ts", (vid, lo_ms, hi_ms))
    rows = await cur.fetchall()
    arr = np.array(rows, dtype=np.float64) if rows else np.zeros((0, len(_COLUMNS) + 1))
    return LevelSamples(arr[:, 0].astype(np.int64), *(arr[:, i + 1]
                                                      for i in range(len(_COLUMNS))))


async def recompute_sessions(conn: psycopg.AsyncConnection, vid: int, lo_ms: int, hi_ms: int,
                             tz: ZoneInfo, model: str | None) -> None:
    """Redo the sessions around new samples in [lo_ms, hi_ms]; nothing to do when they
    report neither a fuel level nor whether the car is charging (the other level and
    position signals arrive in the same rows as those)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM samples WHERE vehicle_id = %s"
        " AND ts >= to_timestamp(%s / 1000.0) AND ts <= to_timestamp(%s / 1000.0)"
        " AND (fuel_pct IS NOT NULL OR is_charging IS NOT NULL))", (vid, lo_ms, hi_ms))
    # the bounds are asked before the answer is read: one round trip in pipeline mode
    near_lo = await _ask_bound(conn, vid, lo_ms, True, True)
    near_hi = await _ask_bound(conn, vid, hi_ms, False, True)
    row = await cur.fetchone()
    if not (row and row[0]):
        return
    lo = await _bound(conn, vid, lo_ms, True, near_lo)
    hi = await _bound(conn, vid, hi_ms, False, near_hi)
    s = await _load(conn, vid, lo, hi)
    found = [x for x in charging_sessions(s) if x.start_ms > lo] + \
        [x for x in refuels(s) if x.end_ms > lo]
    await conn.execute(
        "DELETE FROM energy_sessions WHERE vehicle_id = %(v)s AND ((kind = 'charge'"
        " AND start_ts > to_timestamp(%(lo)s / 1000.0) AND start_ts <= to_timestamp(%(hi)s"
        " / 1000.0)) OR (kind = 'refuel' AND end_ts > to_timestamp(%(lo)s / 1000.0)"
        " AND end_ts <= to_timestamp(%(hi)s / 1000.0)))", {"v": vid, "lo": lo, "hi": hi})
    if not found:
        return
    tank_l, battery_kwh = capacity(model)
    rows = [_row(vid, x, tz, tank_l if x.kind == "refuel" else battery_kwh) for x in found]
    async with conn.cursor() as c:
        await c.executemany(
            "INSERT INTO energy_sessions (vehicle_id, kind, start_ts, end_ts, local_day,"
            " start_level, end_level, added, avg_kw, latitude, longitude, current_kind,"
            " complete) VALUES (%(vehicle_id)s, %(kind)s, to_timestamp(%(start_ms)s / 1000.0),"
            " to_timestamp(%(end_ms)s / 1000.0), %(local_day)s, %(start_level)s,"
            " %(end_level)s, %(added)s, %(avg_kw)s, %(lat)s, %(lon)s, %(current)s,"
            " %(complete)s) ON CONFLICT (vehicle_id, kind, start_ts) DO UPDATE SET"
            " end_ts = EXCLUDED.end_ts, local_day = EXCLUDED.local_day,"
            " start_level = EXCLUDED.start_level, end_level = EXCLUDED.end_level,"
            " added = EXCLUDED.added, avg_kw = EXCLUDED.avg_kw,"
            " latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,"
            " current_kind = EXCLUDED.current_kind, complete = EXCLUDED.complete", rows)


def _row(vid: int, x: Session, tz: ZoneInfo, full: float) -> dict[str, Any]:
    added = None
    if x.start_level is not None and x.end_level is not None:
        added = round(max(0.0, x.end_level - x.start_level) / 100 * full, 3)
    hours = (x.end_ms - x.start_ms) / 3_600_000
    on_day = x.start_ms if x.kind == "charge" else x.end_ms
    return {"vehicle_id": vid, "kind": x.kind, "start_ms": x.start_ms, "end_ms": x.end_ms,
            "local_day": local_day(on_day, tz),
            "start_level": x.start_level, "end_level": x.end_level, "added": added,
            "avg_kw": round(added / hours, 3) if x.kind == "charge" and added is not None
            and hours > 0 else None, "lat": x.lat, "lon": x.lon, "current": x.current,
            "complete": x.complete}


@dataclass(frozen=True, slots=True)
class Home:
    """The owner's registered home, or None."""

    lat: float | None
    lon: float | None

    def place(self, lat: float | None, lon: float | None) -> str | None:
        """"home", "public", or None when the home or the position is unknown."""
        if self.lat is None or self.lon is None or lat is None or lon is None:
            return None
        return "home" if distance_m(self.lat, self.lon, lat, lon) <= HOME_RADIUS_M \
            else "public"


async def vehicle_sessions(conn: psycopg.AsyncConnection, vid: int, kind: str,
                           frm: date | None, to: date | None) -> dict[str, Any]:
    """A vehicle's sessions of ``kind`` on the local days [frm, to] and their summary."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT home_lat, home_lon FROM vehicles WHERE id = %s", (vid,))
        v = await cur.fetchone()
        home = Home(v["home_lat"], v["home_lon"]) if v else Home(None, None)
        await cur.execute(
            "SELECT start_ts, end_ts, local_day, start_level, end_level, added, avg_kw,"
            " latitude, longitude, current_kind, complete FROM energy_sessions"
            " WHERE vehicle_id = %(v)s AND kind = %(k)s"
            " AND (%(f)s::date IS NULL OR local_day >= %(f)s)"
            " AND (%(t)s::date IS NULL OR local_day <= %(t)s) ORDER BY start_ts",
            {"v": vid, "k": kind, "f": frm, "t": to})
        rows = await cur.fetchall()
        await cur.execute(
            "SELECT coalesce(sum(km), 0) AS km FROM daily_usage WHERE vehicle_id = %(v)s"
            " AND (%(f)s::date IS NULL OR day >= %(f)s) AND (%(t)s::date IS NULL OR day <= %(t)s)",
            {"v": vid, "f": frm, "t": to})
        km_row = await cur.fetchone()
    unit = "kwh" if kind == "charge" else "litres"
    items = [_item(r, home, unit) for r in rows]
    return {"sessions": items, "summary": _summary(items, unit, float(km_row["km"])
                                                   if km_row else 0.0, kind)}


def _item(r: dict[str, Any], home: Home, unit: str) -> dict[str, Any]:
    item = {"start": r["start_ts"].isoformat(), "end": r["end_ts"].isoformat(),
            "local_day": r["local_day"].isoformat(), "start_level_pct": r["start_level"],
            "end_level_pct": r["end_level"], f"{unit}_added": r["added"],
            "latitude": r["latitude"], "longitude": r["longitude"]}
    if unit == "kwh":
        item.update(place=home.place(r["latitude"], r["longitude"]),
                    current=r["current_kind"], avg_power_kw=r["avg_kw"],
                    complete=r["complete"])
    return item


def _summary(items: list[dict[str, Any]], unit: str, km: float, kind: str) -> dict[str, Any]:
    total = round(sum(i[f"{unit}_added"] or 0.0 for i in items), 3)
    out: dict[str, Any] = {"sessions": len(items), f"{unit}_added": total,
                           "km_driven": round(km, 3),
                           f"{unit}_per_100km": round(total / km * 100, 3) if km > 0 else None}
    if kind == "charge":
        known = [i for i in items if i["place"] is not None]
        home = [i for i in known if i["place"] == "home"]
        kwh_known = sum(i["kwh_added"] or 0.0 for i in known)
        out["home_share"] = round(len(home) / len(known), 4) if known else None
        out["home_kwh_share"] = round(sum(i["kwh_added"] or 0.0 for i in home) / kwh_known, 4) \
            if kwh_known > 0 else None
        out["dc_share"] = round(sum(1 for i in items if i["current"] == "DC") / len(items), 4) \
            if items else None
    return out
