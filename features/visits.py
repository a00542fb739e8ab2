"""Dealer visits seen from the car's position: pure rules, no I/O.

A **visit** is a stay between two trips (the car arrived at the end of one trip and left at
the start of the next) whose parking position lies inside a dealer's geofence (a circle of
``geofence_m`` around the dealer's location) and which overlaps the dealer's opening hours,
in the dealer's time zone, for at least ``min_minutes``. A car that passes by, stops for a
few minutes, or is parked next to the dealer overnight or on a closed day is not a visit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS: Mapping[str, str | None] = {
    "mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00",
    "fri": "08:00-18:00", "sat": "08:00-13:00", "sun": None}
DEFAULT_GEOFENCE_M = 150.0
EARTH_M = 6_371_008.8
_MAX_DAYS = 62  # a longer stay is counted on its first two months of opening hours


class HoursError(ValueError):
    """Opening hours that cannot be read; the message names the day."""


def parse_hours(raw: Mapping[str, object]) -> dict[str, tuple[time, time] | None]:
    """``{"mon": "08:00-18:00", ..., "sun": null}`` to times; a missing day is closed."""
    unknown = set(raw) - set(WEEKDAYS)
    if unknown:
        raise HoursError(f"unknown day {sorted(unknown)[0]!r} (use {', '.join(WEEKDAYS)})")
    out: dict[str, tuple[time, time] | None] = {}
    for day in WEEKDAYS:
        span = raw.get(day)
        if span is None:
            out[day] = None
            continue
        try:
            assert isinstance(span, str)
            opens, closes = (time.fromisoformat(p) for p in span.split("-"))
        except (AssertionError, ValueError):
            raise HoursError(f"{day}: expected \"HH:MM-HH:MM\", got {span!r}") from None
        if closes <= opens:
            raise HoursError(f"{day}: closes before it opens ({span})")
        out[day] = (opens, closes)
    return out


@dataclass(frozen=True, slots=True)
class Site:
    """Where a dealer is and when it is open."""

    dealer_id: str
    latitude: float
    longitude: float
    radius_m: float
    tz: ZoneInfo
    hours: Mapping[str, tuple[time, time] | None]


@dataclass(frozen=True, slots=True)
class Stay:
    """The car parked at one position from ``arrived_ms`` to ``left_ms``."""

    arrived_ms: int
    left_ms: int
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Visit:
    """A stay that counts as a visit to ``dealer_id``."""

    dealer_id: str
    arrived_ms: int
    left_ms: int
    open_minutes: float
    distance_m: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 \
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(min(1.0, h)))


def open_minutes(site: Site, arrived_ms: int, left_ms: int) -> float:
    """Minutes of ``[arrived, left]`` inside the site's opening hours (its own zone)."""
    a = datetime.fromtimestamp(arrived_ms / 1000, site.tz)
    b = datetime.fromtimestamp(left_ms / 1000, site.tz)
    total = 0.0
    day: date = a.date()
    for _ in range(_MAX_DAYS):
        if day > b.date():
            break
        span = site.hours[WEEKDAYS[day.weekday()]]
        if span is not None:
            lo = max(a, datetime.combine(day, span[0], site.tz))
            hi = min(b, datetime.combine(day, span[1], site.tz))
            total += max(0.0, (hi - lo).total_seconds() / 60)
        day += timedelta(days=1)
    return total


def find_visits(stays: Iterable[Stay], sites: list[Site], min_minutes: float) -> list[Visit]:
    """The stays that are visits, each to the nearest site whose geofence holds it."""
    out = []
    for s in stays:
        near = [(distance_m(s.latitude, s.longitude, d.latitude, d.longitude), d)
                for d in sites if abs(s.latitude - d.latitude) < 0.05]
        inside = [(m, d) for m, d in near if m <= d.radius_m]
        if not inside:
            continue
        dist, site = min(inside, key=lambda p: p[0])
        minutes = open_minutes(site, s.arrived_ms, s.left_ms)
        if minutes >= min_minutes:
            out.append(Visit(site.dealer_id, s.arrived_ms, s.left_ms, round(minutes, 1),
                             round(dist, 1)))
    return out
