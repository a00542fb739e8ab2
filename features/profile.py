"""Usage profiles over a window of days (see docs/profiles.md), computed by PostgreSQL from
the daily rollups in one statement, for one vehicle or for the whole fleet at once.

One statement serves both the single read and the bulk export, so the two can never
disagree, and the export streams rows PostgreSQL already made: no per-vehicle round trip.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from decoders.catalog import load_catalog
from features.segments import maturity_levels
from features.sessions import HOME_RADIUS_M
from features.visits import EARTH_M

WINDOWS = (7, 30, 90)
DOMAINS = load_catalog().domains
FEATURES = (
    "window_days", "as_of", "active_days", "km_total", "km_per_day", "km_per_active_day",
    "trips", "trip_km_avg", "trip_minutes_avg", "drive_hours", "night_share", "weekend_share",
    "highway_share", "commute_share", "max_speed", "harsh_events_per_100km",
    "fuel_l_per_100km", "energy_kwh_per_100km", "refuels", "charging_sessions",
    "charged_kwh", "charged_kwh_per_100km", "home_charging_share", "cockpit_per_drive_hour",
    "cockpit_breadth", "days_since_last_drive", "odometer_km", "km_trend", "activity",
    "maturity")


TYPES = {k: "int" for k in ("window_days", "active_days", "trips", "refuels",
                             "charging_sessions", "cockpit_breadth", "days_since_last_drive")}
TYPES.update({"as_of": "date", "cockpit_per_drive_hour": "json", "activity": "text",
              "maturity": "text"})


@cache
def capacities() -> str:
    """Tank litres and battery kWh per model (JSON for the statement): ``{"default":
    [l, kWh], "models": {name: [l, kWh]}}``."""
    raw = json.loads((resources.files("features") / "data" / "models.json").read_text())
    default = raw["default"]
    models = {name: [float({**default, **spec}["tank_l"]), float({**default, **spec}
                                                                 ["battery_kwh"])]
              for name, spec in raw["models"].items()}
    return json.dumps({"default": [float(default["tank_l"]), float(default["battery_kwh"])],
                       "models": models})


def _ratio(a: str, b: str, digits: int = 4) -> str:
    return f"CASE WHEN ({b}) > 0 THEN round((({a})::float8 / ({b}))::numeric, {digits})::float8 END"


_CUR = "d.day > %(split)s"
_SUMS = {  # per vehicle over the two windows: name -> aggregate
    "active_days": f"count(*) FILTER (WHERE {_CUR} AND d.trips > 0)",
    "km": f"sum(d.km) FILTER (WHERE {_CUR})",
    "prev_km": f"sum(d.km) FILTER (WHERE NOT {_CUR})",
    "weekend_km": f"sum(d.km) FILTER (WHERE {_CUR} AND extract(isodow FROM d.day) >= 6)",
    "drive_s": f"sum(d.drive_s) FILTER (WHERE {_CUR})",
    "trips": f"sum(d.trips) FILTER (WHERE {_CUR})",
    "night_s": f"sum(d.night_s) FILTER (WHERE {_CUR})",
    "above_90_s": f"sum(d.above_90_s) FILTER (WHERE {_CUR})",
    "commute": f"sum(d.commute_trips) FILTER (WHERE {_CUR})",
    "max_speed": f"max(d.max_speed) FILTER (WHERE {_CUR})",
    "harsh": f"sum(d.harsh_brakes + d.harsh_accels) FILTER (WHERE {_CUR})",
    "fuel_pct": f"sum(d.fuel_used_pct) FILTER (WHERE {_CUR})",
    "energy_pct": f"sum(d.energy_used_pct) FILTER (WHERE {_CUR})",
    "refuels": f"sum(d.refuels) FILTER (WHERE {_CUR})",
    "charges": f"sum(d.charges) FILTER (WHERE {_CUR})",
    "last_drive": "max(d.day) FILTER (WHERE d.trips > 0)",
    **{f"c_{k}": f"sum((d.cockpit ->> '{k}')::int) FILTER (WHERE {_CUR})" for k in DOMAINS},
}
_HOURS = "(a.drive_s / 3600.0)"
# expressions over a vehicle row ``a`` as of ``%(as_of)s``, shared with the matrix and the
# segment events so that a cell means the same everywhere
ODOMETER_AS_OF = ("coalesce((SELECT t.end_odometer FROM trips t WHERE t.vehicle_id = a.id AND"
             " t.local_day <= %(as_of)s AND t.end_odometer IS NOT NULL ORDER BY t.start_ts"
             " DESC LIMIT 1), a.odometer_km)")
DOMAINS_USED_AS_OF = ("(SELECT count(*) FROM vehicle_domains vd WHERE vd.vehicle_id = a.id"
                     " AND vd.first_day <= %(as_of)s)")


def _maturity_sql() -> str:
    """The highest level whose thresholds are all met (features/data/maturity.json)."""
    whens = " ".join(
        f"WHEN %(as_of)s::date - a.delivered_on >= {lv.owned_days} AND coalesce({ODOMETER_AS_OF},"
        f" 0) >= {lv.km} AND {DOMAINS_USED_AS_OF} >= {lv.domains} THEN '{lv.name}'"
        for lv in reversed(maturity_levels()))
    return f"CASE WHEN a.delivered_on IS NULL THEN 'unknown' {whens} ELSE 'novice' END"

ACTIVITY_AS_OF = ("(SELECT s.activity FROM segment_days s WHERE s.vehicle_id = a.id"
                  " AND s.day <= %(as_of)s ORDER BY s.day DESC LIMIT 1)")
MATURITY_AS_OF = _maturity_sql()
_BREADTH = " + ".join(f"(a.c_{k} > 0)::int" for k in DOMAINS)
_CAPS = "coalesce(%(caps)s::jsonb -> 'models' -> a.model, %(caps)s::jsonb -> 'default')"
_OUT = {  # feature -> expression over ``a``: the vehicle and its sums (zeros if none)
    "window_days": "%(window)s::int",
    "as_of": "%(as_of)s::date",
    "active_days": "a.active_days::int",
    "km_total": "round(a.km::numeric, 2)::float8",
    "km_per_day": "round((a.km / %(window)s)::numeric, 2)::float8",
    "km_per_active_day": _ratio("a.km", "a.active_days"),
    "trips": "a.trips::int",
    "trip_km_avg": _ratio("a.km", "a.trips"),
    "trip_minutes_avg": _ratio("a.drive_s / 60", "a.trips"),
    "drive_hours": f"round({_HOURS}::numeric, 3)::float8",
    "night_share": _ratio("a.night_s", "a.drive_s"),
    "weekend_share": _ratio("a.weekend_km", "a.km"),
    "highway_share": _ratio("a.above_90_s", "a.drive_s"),
    "commute_share": _ratio("a.commute", "a.trips"),
    "max_speed": "a.max_speed",
    "harsh_events_per_100km": _ratio("a.harsh * 100", "a.km"),
    "fuel_l_per_100km": _ratio(f"a.fuel_pct * ({_CAPS} ->> 0)::float8", "a.km"),
    "energy_kwh_per_100km": _ratio(f"a.energy_pct * ({_CAPS} ->> 1)::float8", "a.km"),
    "refuels": "a.refuels::int",
    "charging_sessions": "a.charges::int",
    "charged_kwh": "round(a.charged_kwh::numeric, 3)::float8",
    "charged_kwh_per_100km": _ratio("a.charged_kwh * 100", "a.km"),
    "home_charging_share": _ratio("a.home_sessions", "a.placed_sessions"),
    "cockpit_per_drive_hour": "json_build_object(" + ", ".join(
        f"'{k}', coalesce({_ratio(f'a.c_{k}', _HOURS)}, 0.0)" for k in DOMAINS) + ")",
    "cockpit_breadth": _BREADTH,
    # the last drive may lie before both windows: only then look it up in trips
    "days_since_last_drive": "%(as_of)s::date - coalesce(a.last_drive, (SELECT"
                             " max(t.local_day) FROM trips t WHERE t.vehicle_id = a.id"
                             " AND t.local_day <= %(as_of)s))",
    "odometer_km": f"round({ODOMETER_AS_OF}::numeric, 1)::float8",
    "km_trend": _ratio("a.km - a.prev_km", "a.prev_km"),
    "activity": ACTIVITY_AS_OF,
    "maturity": MATURITY_AS_OF,
}
_NO_ZERO = {"max_speed": "0.0", "last_drive": "NULL"}
# the charging sessions of the current window: energy put in, how many were at the owner's
# registered home (within HOME_RADIUS_M, haversine as ``features.visits.distance_m``) and
# how many had a known place
_DIST = (f"2 * {EARTH_M} * asin(sqrt(power(sin(radians(s.latitude - v.home_lat) / 2), 2)"
         " + cos(radians(v.home_lat)) * cos(radians(s.latitude))"
         " * power(sin(radians(s.longitude - v.home_lon) / 2), 2)))")
_CHARGING = (
    "LEFT JOIN LATERAL (SELECT coalesce(sum(s.added), 0) AS charged_kwh,"
    f" count(*) FILTER (WHERE {_DIST} <= {HOME_RADIUS_M}) AS home_sessions,"
    " count(*) FILTER (WHERE v.home_lat IS NOT NULL AND s.latitude IS NOT NULL)"
    " AS placed_sessions FROM energy_sessions s WHERE s.vehicle_id = v.id"
    " AND s.kind = 'charge' AND s.local_day > %(split)s AND s.local_day <= %(as_of)s) cs"
    " ON true")


class Scope(Enum):
    """Which vehicles a profile statement covers; the ``vehicle`` parameter holds the key.
    Each value is (the filter on daily usage, the filter on vehicles)."""

    FLEET = ("", "")
    IDS = (" AND d.vehicle_id = ANY(%(vehicle)s)", " WHERE v.id = ANY(%(vehicle)s)")
    ID = (" AND d.vehicle_id = %(vehicle)s", " WHERE v.id = %(vehicle)s")
    VIN = (" AND d.vehicle_id = (SELECT id FROM vehicles WHERE vin = %(vehicle)s)",
           " WHERE v.vin = %(vehicle)s")


@cache
def statement(scope: Scope, output: str) -> sql.Composed:
    """``WITH x`` (sums per vehicle), ``a`` (every vehicle of ``scope`` with its sums),
    ``p`` (the features), then ``output`` (a SELECT over ``p``)."""
    only, match = scope.value
    sums = ", ".join(f"{e} AS {k}" for k, e in _SUMS.items())
    zeros = ", ".join(f"coalesce(x.{k}, {_NO_ZERO.get(k, '0')}) AS {k}" for k in _SUMS)
    features = ", ".join(f"{e} AS {k}" for k, e in _OUT.items())
    return sql.SQL(
        f"WITH x AS (SELECT d.vehicle_id, {sums} FROM daily_usage d WHERE d.day > %(first)s"
        f" AND d.day <= %(as_of)s{only} GROUP BY d.vehicle_id),"
        f" a AS (SELECT v.id, v.vin, v.model, v.delivered_on, v.odometer_km, {zeros},"
        " cs.charged_kwh, cs.home_sessions, cs.placed_sessions"
        f" FROM vehicles v LEFT JOIN x ON x.vehicle_id = v.id {_CHARGING}{match}),"
        f" p AS (SELECT a.vin, a.id, {features} FROM a) {output}").format()


def params(window: int, as_of: date, vehicle: int | str | list[int] | None = None
           ) -> dict[str, Any]:
    """The parameters ``statement`` expects."""
    return {"window": window, "as_of": as_of, "split": as_of - timedelta(days=window),
            "first": as_of - timedelta(days=2 * window), "caps": capacities(),
            "vehicle": vehicle}


# the document served: the VIN, then the features in FEATURES order
JSON_DOC = "json_build_object('vin', p.vin, " + ", ".join(f"'{k}', p.{k}" for k in FEATURES) + ")"


async def vehicle_profile(conn: psycopg.AsyncConnection, vid: int, window: int,
                          as_of: date) -> dict[str, Any]:
    """The profile of one vehicle (without its VIN)."""
    cur = await conn.execute(statement(Scope.ID, f"SELECT {JSON_DOC} FROM p"),
                             params(window, as_of, vid))
    row = await cur.fetchone()
    assert row is not None
    profile: dict[str, Any] = row[0]
    profile.pop("vin")
    return profile


async def vehicle_profile_json(conn: psycopg.AsyncConnection, vin: str, window: int,
                               as_of: date) -> str | None:
    """The profile of the vehicle ``vin`` as a JSON document (with ``vin``), None if the
    vehicle is unknown: one round trip, and the JSON is PostgreSQL's."""
    cur = await conn.execute(statement(Scope.VIN, f"SELECT {JSON_DOC}::text FROM p"),
                             params(window, as_of, vin))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def fleet_profiles_ndjson(conn: psycopg.AsyncConnection, window: int, as_of: date,
                                chunk_rows: int = 5000) -> AsyncIterator[bytes]:
    """Every vehicle's profile as NDJSON lines (with ``vin``), by vehicle id, in chunks."""
    async with conn.transaction(), conn.cursor(name="profiles") as cur:
        await cur.execute(statement(Scope.FLEET, f"SELECT {JSON_DOC}::text FROM p ORDER BY p.id"),
                          params(window, as_of))
        while rows := await cur.fetchmany(chunk_rows):
            yield ("\n".join(r[0] for r in rows) + "\n").encode()


async def fleet_profiles_csv(conn: psycopg.AsyncConnection, window: int, as_of: date
                             ) -> AsyncIterator[bytes]:
    """Every vehicle's profile as CSV with a header row (nested values as JSON)."""
    columns = ", ".join(["p.vin", *(f"p.{k}" for k in FEATURES)])
    query = sql.SQL("COPY ({}) TO STDOUT (FORMAT CSV, HEADER)").format(
        statement(Scope.FLEET, f"SELECT {columns} FROM p ORDER BY p.id"))
    async with conn.cursor() as cur, cur.copy(query, params(window, as_of)) as copy:
        async for data in copy:
            yield bytes(data)
