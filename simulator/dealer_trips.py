"""Trips to the dealer: an owner drives to the dealer's lot, parks, and drives home.

Planned stays are of three kinds: a service visit (one to three hours on an open morning),
a stop too short to count (6 to 20 minutes), and an hour on a Sunday, when the dealer is
closed. Whether a stay counts is judged here by the simulator's own reading of the dealers'
opening hours, minute by minute. Every other parking place is kept at least
``KEEP_AWAY_M`` from every dealer, so the planned stays are the only candidates.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from simulator.fleet import OPENING_HOURS, VehicleSpec, make_dealers

KEEP_AWAY_M = 400.0
VISIT_MINUTES = 30  # the gateway's default
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@cache
def dealer_points(seed: int) -> tuple[tuple[float, float], ...]:
    """Every dealer's location."""
    return tuple((float(d["latitude"]), float(d["longitude"]))  # type: ignore[arg-type]
                 for d in make_dealers(seed))


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: good to a metre at city scale."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(x, math.radians(lat2 - lat1)) * 6_371_008.8


class DealerTrips:
    """One vehicle's stays at its dealer."""

    def __init__(self, spec: VehicleSpec, dealers: tuple[tuple[float, float], ...],
                 tz: ZoneInfo) -> None:
        self.spec, self.dealers, self.tz = spec, dealers, tz
        self.last_spot: tuple[float, float] | None = None
        self.stop_days = {day: (minutes, sunday) for day, minutes, sunday in spec.stops}

    def stay_today(self, rng: np.random.Generator, d: int, day: date, to_dealer: bool
                   ) -> tuple[float, int] | None:
        """(departure local hour, minutes parked) of today's stay at the dealer, if any."""
        if to_dealer:
            return float(rng.uniform(8.0, 9.0)), int(rng.integers(60, 181))
        for first, (minutes, sunday) in self.stop_days.items():
            target = first + ((6 - (day - timedelta(days=d - first)).weekday()) % 7
                              if sunday else 0)
            if d == target:
                return (11.0 if sunday else float(rng.uniform(16.0, 17.0))), minutes
        return None

    def spot(self, rng: np.random.Generator) -> tuple[float, float]:
        """A parking place on the dealer's lot, within 60 m of its location (the geofence
        the dealers are published with is 150 m)."""
        r, a = float(rng.uniform(0, 60)), float(rng.uniform(0, 2 * math.pi))
        lat = self.spec.dealer_lat + r * math.cos(a) / 111_195
        lon = self.spec.dealer_lon + r * math.sin(a) / (
            111_195 * math.cos(math.radians(self.spec.dealer_lat)))
        self.last_spot = (lat, lon)
        return lat, lon

    @staticmethod
    def road_km(lat: float, lon: float, to_lat: float, to_lon: float) -> float:
        """Road distance: the straight line plus a third, at least 0.5 km."""
        return max(0.5, metres(lat, lon, to_lat, to_lon) / 1000 * 1.33)

    def keep_away(self, state: Any, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Move a trip that would end near a dealer 700 m north (the whole trip)."""
        for _ in range(5):
            if all(metres(state.lat, state.lon, la, lo) >= KEEP_AWAY_M
                   for la, lo in self.dealers):
                return
            state.lat += 0.0063
            for _, row in rows:
                if "Vehicle.CurrentLocation.Latitude" in row:
                    row["Vehicle.CurrentLocation.Latitude"] = round(
                        row["Vehicle.CurrentLocation.Latitude"] + 0.0063, 6)

    def is_visit(self, arrived_ms: int, left_ms: int) -> bool:
        """At least ``VISIT_MINUTES`` whole minutes of the stay in opening hours."""
        inside = 0
        for m in range(arrived_ms, left_ms, 60_000):
            local = datetime.fromtimestamp(m / 1000, self.tz)
            hours = OPENING_HOURS.get(WEEKDAYS[local.weekday()])
            if hours and hours[:5] <= local.strftime("%H:%M") < hours[6:]:
                inside += 1
        return inside >= VISIT_MINUTES
