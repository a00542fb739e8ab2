"""Dealers: who looks after which cars, where they are, and how an owner books with them.

A dealer has an id, a name, a time zone, a location, its service advisors and a booking URL
template, and where the gateway recognises a visit: a geofence radius around the location
(``geofence_m``, default 150 m) and opening hours per weekday (``features.visits``). The
template may use ``{vin}``, ``{reminder_id}``, ``{items}`` (comma-separated)
and ``{advisor_id}``; each is URL-quoted when the link is built.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row

from features.registry import RegistryError
from features.visits import DEFAULT_GEOFENCE_M, DEFAULT_HOURS, HoursError, Site, parse_hours

PLACEHOLDERS = frozenset({"vin", "reminder_id", "items", "advisor_id"})


@dataclass(frozen=True, slots=True)
class Dealer:
    """One dealer."""

    id: str
    name: str
    timezone: str
    latitude: float | None = None
    longitude: float | None = None
    booking_url: str | None = None
    advisors: tuple[dict[str, str], ...] = ()
    geofence_m: float | None = None
    opening_hours: dict[str, str | None] | None = None


def _text(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    raw = body.get(key)
    if raw in (None, ""):
        if required:
            raise RegistryError(f"field {key!r} is required")
        return None
    if not isinstance(raw, str) or len(raw) > 500:
        raise RegistryError(f"field {key!r} must be a string of at most 500 characters")
    return raw


def _coordinate(body: dict[str, Any], key: str, bound: float) -> float | None:
    raw = body.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not -bound <= raw <= bound:
        raise RegistryError(f"field {key!r} must be a number within -{bound:g}..{bound:g}")
    return float(raw)


def parse(body: dict[str, Any]) -> Dealer:
    """Validate one dealer; errors name the field."""
    unknown = set(body) - {"id", "name", "timezone", "latitude", "longitude", "booking_url",
                           "advisors", "geofence_m", "opening_hours"}
    if unknown:
        raise RegistryError(f"unknown field {sorted(unknown)[0]!r}")
    dealer_id, name = _text(body, "id", True), _text(body, "name", True)
    tz = _text(body, "timezone", True)
    assert dealer_id and name and tz
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise RegistryError(f"field 'timezone': unknown zone {tz!r}") from None
    url = _text(body, "booking_url")
    if url is not None:
        used = {f for _, f, _, _ in string.Formatter().parse(url) if f is not None}
        if not used <= PLACEHOLDERS or not url.startswith(("https://", "http://")):
            raise RegistryError("field 'booking_url' must be an http(s) URL using only"
                                f" {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
    advisors = body.get("advisors", [])
    if not isinstance(advisors, list) or not all(
            isinstance(a, dict) and isinstance(a.get("id"), str) and a["id"]
            and set(a) <= {"id", "name", "email"} for a in advisors):
        raise RegistryError("field 'advisors' must be a list of {id, name, email} objects")
    radius = body.get("geofence_m")
    if radius is not None and (isinstance(radius, bool) or not isinstance(radius, int | float)
                               or not 10 <= radius <= 5000):
        raise RegistryError("field 'geofence_m' must be a number of metres within 10..5000")
    hours = body.get("opening_hours")
    if hours is not None:
        if not isinstance(hours, dict):
            raise RegistryError("field 'opening_hours' must be an object of weekday: "
                                "\"HH:MM-HH:MM\" or null")
        try:
            parse_hours(hours)
        except HoursError as exc:
            raise RegistryError(f"field 'opening_hours': {exc}") from None
    return Dealer(dealer_id, name, tz, _coordinate(body, "latitude", 90),
                  _coordinate(body, "longitude", 180), url, tuple(advisors),
                  float(radius) if radius is not None else None, hours)


def booking_link(template: str | None, vin: str, reminder_id: str | None, items: list[str],
                 advisor_id: str | None) -> str | None:
    """The dealer's booking URL for one vehicle and its items."""
    if not template:
        return None
    return template.format(vin=quote(vin), reminder_id=quote(reminder_id or ""),
                           items=quote(",".join(items)), advisor_id=quote(advisor_id or ""))


async def upsert(conn: psycopg.AsyncConnection, d: Dealer) -> None:
    """Create or replace a dealer."""
    await conn.execute(
        "INSERT INTO dealers (id, name, timezone, latitude, longitude, booking_url, advisors,"
        " geofence_m, opening_hours) VALUES (%(id)s, %(name)s, %(tz)s, %(lat)s, %(lon)s,"
        " %(url)s, %(advisors)s::jsonb, %(radius)s, %(hours)s::jsonb)"
        " ON CONFLICT (id) DO UPDATE SET"
        " name = EXCLUDED.name, timezone = EXCLUDED.timezone, latitude = EXCLUDED.latitude,"
        " longitude = EXCLUDED.longitude, booking_url = EXCLUDED.booking_url,"
        " advisors = EXCLUDED.advisors, geofence_m = EXCLUDED.geofence_m,"
        " opening_hours = EXCLUDED.opening_hours, updated_at = now()",
        {"id": d.id, "name": d.name, "tz": d.timezone, "lat": d.latitude, "lon": d.longitude,
         "url": d.booking_url, "advisors": json.dumps(list(d.advisors)),
         "radius": d.geofence_m,
         "hours": json.dumps(d.opening_hours) if d.opening_hours is not None else None})


async def get(conn: psycopg.AsyncConnection, dealer_id: str) -> dict[str, Any] | None:
    """One dealer, JSON-ready."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, name, timezone, latitude, longitude, booking_url,"
                          " advisors, geofence_m, opening_hours FROM dealers WHERE id = %s",
                          (dealer_id,))
        return await cur.fetchone()


async def sites(conn: psycopg.AsyncConnection) -> list[Site]:
    """Every dealer with a location, as a place a car can visit (defaults filled in)."""
    cur = await conn.execute("SELECT id, latitude, longitude, geofence_m, timezone,"
                             " opening_hours FROM dealers WHERE latitude IS NOT NULL"
                             " AND longitude IS NOT NULL ORDER BY id")
    return [Site(i, lat, lon, radius or DEFAULT_GEOFENCE_M, ZoneInfo(tz),
                 parse_hours(hours if hours is not None else DEFAULT_HOURS))
            for i, lat, lon, radius, tz, hours in await cur.fetchall()]
