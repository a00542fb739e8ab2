"""Reads of derived state for the platform API: vehicles, service position, the feed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from features.prediction import Rate, driving_rate, predict
from features.reminder_store import ask_book, read_book
from features.service import ServiceRecord, ServiceStatus, evaluate, load_rules

_VEHICLE_COLS = (
    "id, vin, registered, model, powertrain, timezone, delivered_on::text AS delivered_on,"
    " owner_id, owner_channel, dealer_id, advisor_id, first_seen, last_seen, last_sample_at,"
    " odometer_km, activity, service_status, home_lat, home_lon")


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


async def vehicle(conn: psycopg.AsyncConnection, vin: str) -> dict[str, Any] | None:
    """Registry entry plus the latest state (position, fuel, battery) of one VIN."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_VEHICLE_COLS} FROM vehicles WHERE vin = %s", (vin,))
        row = await cur.fetchone()
    if row is None:
        return None
    latest: dict[str, Any] = {"latitude": None, "longitude": None, "fuel_pct": None,
                              "soc_pct": None, "is_charging": None}
    if row["last_sample_at"] is not None:
        cur2 = await conn.execute(
            "SELECT latitude, longitude, fuel_pct, soc_pct, is_charging FROM samples"
            " WHERE vehicle_id = %s AND ts <= %s AND ts > %s - interval '2 days'"
            " ORDER BY ts DESC LIMIT 200", (row["id"], row["last_sample_at"],
                                            row["last_sample_at"]))
        for r in await cur2.fetchall():
            for key, value in zip(latest, r, strict=True):
                if latest[key] is None and value is not None:
                    latest[key] = value
    if latest["is_charging"] is not None:
        latest["is_charging"] = bool(latest["is_charging"])
    out = {k: _iso(v) for k, v in row.items() if k != "id"}
    out["position"] = ({"latitude": latest["latitude"], "longitude": latest["longitude"]}
                       if latest["latitude"] is not None else None)
    out.update(fuel_pct=latest["fuel_pct"], soc_pct=latest["soc_pct"],
               is_charging=latest["is_charging"])
    return out


async def vehicles(conn: psycopg.AsyncConnection, segment: str | None, dealer_id: str | None,
                   registered: bool | None, after_id: int, limit: int
                   ) -> tuple[list[dict[str, Any]], int | None]:
    """A page of vehicles ordered by id, and the cursor of the next page."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_VEHICLE_COLS} FROM vehicles WHERE id > %(a)s"
            " AND (%(s)s::text IS NULL OR activity = %(s)s)"
            " AND (%(d)s::text IS NULL OR dealer_id = %(d)s)"
            " AND (%(r)s::bool IS NULL OR registered = %(r)s) ORDER BY id LIMIT %(n)s",
            {"a": after_id, "s": segment, "d": dealer_id, "r": registered, "n": limit})
        rows = await cur.fetchall()
    nxt = rows[-1]["id"] if len(rows) == limit else None
    return [{k: _iso(v) for k, v in r.items() if k != "id"} for r in rows], nxt


@dataclass(slots=True)
class DailySeries:
    """Per local day: km, day-end odometer, condition aggregates (``features.conditions``)."""

    km: dict[date, float] = field(default_factory=dict)
    odometer: dict[date, float] = field(default_factory=dict)
    conditions: dict[date, dict[str, Any]] = field(default_factory=dict)
    engine_hours: dict[date, float] = field(default_factory=dict)


Asked = psycopg.AsyncCursor[Any]  # a statement sent, its answer not read yet


async def ask_daily_series(conn: psycopg.AsyncConnection, vid: int, upto: date) -> Asked:
    """Send the read of ``daily_series`` (in pipeline mode: without waiting)."""
    return await conn.execute(
        "SELECT day, km, odometer_km, conditions, engine_hours FROM daily_usage"
        " WHERE vehicle_id = %s AND day > %s AND day <= %s",
        (vid, upto - timedelta(days=730), upto))


async def daily_series(conn: psycopg.AsyncConnection, vid: int, upto: date,
                       asked: Asked | None = None) -> DailySeries:
    """The vehicle's days up to ``upto``, for the last two years (``asked``: the read sent
    before by ``ask_daily_series``)."""
    cur = asked if asked is not None else await ask_daily_series(conn, vid, upto)
    out = DailySeries()
    for day, k, o, c, h in await cur.fetchall():
        if h is not None:
            out.engine_hours[day] = float(h)
        out.km[day] = float(k)
        if o is not None:
            out.odometer[day] = float(o)
        if c:
            out.conditions[day] = c
    return out


def rate_as_of(km_by_day: dict[date, float]) -> Callable[[date], Rate | None]:
    """The driving rate as of a day, over the days with data up to it."""
    first = min(km_by_day) if km_by_day else None
    return lambda day: driving_rate(km_by_day, first, day) if first else None


async def ask_position(conn: psycopg.AsyncConnection, vid: int
                       ) -> tuple[psycopg.AsyncCursor[dict[str, Any]], Asked]:
    """Send the reads of ``service_position`` (in pipeline mode: without waiting)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT vin, model, powertrain, timezone, delivered_on, owner_id, dealer_id,"
        " last_sample_at, odometer_km FROM vehicles WHERE id = %s", (vid,))
    return cur, await ask_book(conn, vid)


async def service_position(conn: psycopg.AsyncConnection, vid: int, default_tz: str = "UTC",
                           series: DailySeries | None = None,
                           asked: tuple[psycopg.AsyncCursor[dict[str, Any]], Asked] | None
                           = None
                           ) -> tuple[ServiceStatus | None, list[ServiceRecord], dict[str, Any]]:
    """The service status as of the vehicle's latest data (each item with its predicted
    due date), its service book and registry entry; ``series``: the vehicle's days up to
    that day when the caller already read them; ``asked``: the reads sent before by
    ``ask_position``."""
    vehicle_cur, book_cur = asked if asked is not None else await ask_position(conn, vid)
    v = await vehicle_cur.fetchone()
    await vehicle_cur.close()
    assert v is not None
    book = await read_book(book_cur)
    if v["delivered_on"] is None or v["last_sample_at"] is None or v["odometer_km"] is None:
        return None, book, v
    as_of: date = v["last_sample_at"].astimezone(ZoneInfo(v["timezone"] or default_tz)).date()
    if series is None:
        series = await daily_series(conn, vid, as_of)
    rate = rate_as_of(series.km)(as_of - timedelta(days=1))
    hours = series.engine_hours[max(series.engine_hours)] if series.engine_hours else None
    status = evaluate(load_rules(), v["model"], v["powertrain"], v["delivered_on"],
                      v["odometer_km"], as_of, book,
                      lambda km, due: predict(km, due, as_of - timedelta(days=1), rate), hours)
    return status, book, v


async def feed(conn: psycopg.AsyncConnection, after: int, types: list[str] | None,
               limit: int, dealer_id: str | None = None) -> list[dict[str, Any]]:
    """Feed events with id > after, in id order (of one dealer's vehicles if given)."""
    cur = await conn.execute(
        "SELECT id, type, occurred_at, created_at, payload FROM feed_events WHERE id > %(a)s"
        " AND (%(t)s::text[] IS NULL OR type = ANY(%(t)s))"
        " AND (%(d)s::text IS NULL OR payload->>'dealer_id' = %(d)s) ORDER BY id LIMIT %(n)s",
        {"a": after, "t": types, "d": dealer_id, "n": limit})
    return [{"id": str(i), "type": t, "occurred_at": o.isoformat(), "created_at": c.isoformat(),
             "data": p} for i, t, o, c, p in await cur.fetchall()]
