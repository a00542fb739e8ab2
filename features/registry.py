"""The vehicle registry (One ID): VIN -> model, powertrain, timezone, delivery, owner, dealer."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from decoders.sanity import vin_problem
from features import owners, profile_store

POWERTRAINS = ("ice", "bev", "phev")
FIELDS = ("model", "powertrain", "timezone", "delivered_on", "owner_id", "dealer_id",
          "advisor_id", "owner_channel")
CHANNELS = ("email", "sms", "app", "phone", "post", "none")
# about the owner's period and record, not columns of the vehicle
OWNERSHIP = ("owner_since", "owner_until", "owner_type")
# the owner's home (e.g. the geocoded address): charging there counts as home charging
HOME = {"home_lat": 90.0, "home_lon": 180.0}


class RegistryError(ValueError):
    """A registry entry is invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class Registration:
    """One vehicle's registry entry."""

    vin: str
    model: str | None = None
    powertrain: str | None = None
    timezone: str | None = None
    delivered_on: date | None = None
    owner_id: str | None = None
    dealer_id: str | None = None
    advisor_id: str | None = None
    owner_channel: str | None = None
    owner_since: date | None = None
    owner_until: date | None = None
    owner_type: str | None = None
    home_lat: float | None = None
    home_lon: float | None = None


def _home(body: dict[str, Any]) -> dict[str, float]:
    """The home position: both coordinates or neither, as numbers or numeric strings."""
    out: dict[str, float] = {}
    for key, bound in HOME.items():
        raw = body.get(key)
        if raw in (None, ""):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise RegistryError(f"field {key!r} must be a number") from None
        if isinstance(raw, bool) or not -bound <= value <= bound:
            raise RegistryError(f"field {key!r} must be a number within -{bound:g}..{bound:g}")
        out[key] = value
    if len(out) == 1:
        raise RegistryError("fields 'home_lat' and 'home_lon' go together")
    return out


def parse(vin: str, body: dict[str, Any]) -> Registration:
    """Validate one entry (from JSON, CSV or NDJSON)."""
    problem = vin_problem(vin)
    if problem:
        raise RegistryError(f"vin: {problem}")
    unknown = set(body) - set(FIELDS) - set(OWNERSHIP) - set(HOME) - {"vin"}
    if unknown:
        raise RegistryError(f"unknown field {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for key in (*FIELDS, *OWNERSHIP):
        raw = body.get(key)
        if raw in (None, ""):
            continue
        if not isinstance(raw, str) or len(raw) > 200:
            raise RegistryError(f"field {key!r} must be a string of at most 200 characters")
        values[key] = raw
    if values.get("powertrain") not in (None, *POWERTRAINS):
        raise RegistryError(f"field 'powertrain' must be one of {', '.join(POWERTRAINS)}")
    if values.get("owner_channel") not in (None, *CHANNELS):
        raise RegistryError(f"field 'owner_channel' must be one of {', '.join(CHANNELS)}")
    if values.get("owner_type") not in (None, *owners.OWNER_TYPES):
        raise RegistryError(f"field 'owner_type' must be one of {', '.join(owners.OWNER_TYPES)}")
    if values.keys() & set(OWNERSHIP) and "owner_id" not in values:
        raise RegistryError("fields 'owner_since', 'owner_until' and 'owner_type' need"
                            " 'owner_id'")
    if "timezone" in values:
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise RegistryError(f"field 'timezone': unknown zone {values['timezone']!r}") \
                from None
    for key in ("delivered_on", "owner_since", "owner_until"):
        if key in values:
            try:
                values[key] = date.fromisoformat(values[key])
            except ValueError:
                raise RegistryError(f"field {key!r} must be YYYY-MM-DD") from None
    home = _home(body)
    return Registration(vin=vin, **values, home_lat=home.get("home_lat"),
                        home_lon=home.get("home_lon"))


def parse_bulk(text: str, content_type: str) -> list[Registration]:
    """CSV (header row with vin and the fields) or NDJSON (one object per line)."""
    out = []
    if "csv" in content_type:
        for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            try:
                out.append(parse(row.get("vin") or "", {k: v for k, v in row.items() if k}))
            except RegistryError as exc:
                raise RegistryError(f"line {n}: {exc}") from None
        return out
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise RegistryError("expected a JSON object")
            out.append(parse(str(obj.get("vin", "")), obj))
        except (json.JSONDecodeError, RegistryError) as exc:
            raise RegistryError(f"line {n}: {exc}") from None
    return out


async def upsert(conn: psycopg.AsyncConnection, reg: Registration) -> int:
    """Register or update; a changed timezone or delivery date re-derives the vehicle. The
    owner is recorded by their surviving id; another owner than the current one is a
    transfer on ``owner_since`` (``features/owners.attach``)."""
    if reg.owner_id is not None:
        survivor = await owners.ensure(conn, reg.owner_id, reg.owner_type, reg.owner_channel)
        reg = replace(reg, owner_id=survivor)
    cur = await conn.execute(
        "SELECT id, timezone, delivered_on FROM vehicles WHERE vin = %s FOR UPDATE", (reg.vin,))
    before = await cur.fetchone()
    cur = await conn.execute(
        "INSERT INTO vehicles (vin, registered, model, powertrain, timezone, delivered_on,"
        " owner_id, dealer_id, advisor_id, owner_channel, home_lat, home_lon,"
        " registry_updated_at) VALUES"
        " (%(vin)s, true, %(model)s, %(powertrain)s, %(timezone)s, %(delivered_on)s,"
        " %(owner_id)s, %(dealer_id)s, %(advisor_id)s, %(owner_channel)s, %(home_lat)s,"
        " %(home_lon)s, now())"
        " ON CONFLICT (vin) DO UPDATE SET registered = true, model = EXCLUDED.model,"
        " powertrain = EXCLUDED.powertrain, timezone = EXCLUDED.timezone,"
        " delivered_on = EXCLUDED.delivered_on, owner_id = EXCLUDED.owner_id,"
        " dealer_id = EXCLUDED.dealer_id, advisor_id = EXCLUDED.advisor_id,"
        " owner_channel = EXCLUDED.owner_channel, home_lat = EXCLUDED.home_lat,"
        " home_lon = EXCLUDED.home_lon, registry_updated_at = now() RETURNING id",
        {"vin": reg.vin, **{k: getattr(reg, k) for k in (*FIELDS, *HOME)}})
    row = await cur.fetchone()
    assert row is not None
    vid = int(row[0])
    if reg.owner_id is not None:
        try:
            await owners.attach(conn, vid, reg.vin, reg.owner_id, reg.owner_since,
                                reg.delivered_on, reg.owner_until)
        except owners.OwnerError as exc:
            raise RegistryError(str(exc)) from None
    if before is not None and (before[1] != reg.timezone or before[2] != reg.delivered_on):
        await rederive_all(conn, vid)
    await profile_store.mark(conn, vid)  # model and delivery date are in the profile
    return vid


async def upsert_seen(conn: psycopg.AsyncConnection, vin: str) -> int:
    """The id of a VIN, creating an unregistered vehicle row if needed."""
    cur = await conn.execute(
        "INSERT INTO vehicles (vin) VALUES (%s) ON CONFLICT (vin) DO UPDATE SET vin = EXCLUDED.vin"
        " RETURNING id", (vin,))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def rederive_all(conn: psycopg.AsyncConnection, vid: int) -> None:
    """Drop a vehicle's derived rows and mark its whole history for derivation."""
    for table in ("daily_usage", "segment_days", "trips", "energy_events", "energy_sessions"):
        await conn.execute(f"DELETE FROM {table} WHERE vehicle_id = %s", (vid,))
    await conn.execute("UPDATE vehicles SET activity = NULL, service_status = NULL WHERE id = %s",
                       (vid,))
    await conn.execute(
        "INSERT INTO dirty_hours (vehicle_id, hour) SELECT %s, h FROM generate_series("
        " (SELECT (extract(epoch FROM min(ts)) / 3600)::bigint FROM samples WHERE vehicle_id = %s),"
        " (SELECT (extract(epoch FROM last_sample_at) / 3600)::bigint FROM vehicles"
        "  WHERE id = %s)) AS h ON CONFLICT DO NOTHING", (vid, vid, vid))


async def add_service_record(conn: psycopg.AsyncConnection, vid: int, done_on: date,
                             odometer_km: float, items: list[str], dealer_id: str | None,
                             note: str | None = None, engine_hours: float | None = None) -> int:
    """Add to the service book (idempotent per vehicle, date and odometer) and have the
    service engine re-evaluate the vehicle."""
    cur = await conn.execute(
        "INSERT INTO service_records (vehicle_id, done_on, odometer_km, items, dealer_id, note,"
        " engine_hours) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT"
        " (vehicle_id, done_on, odometer_km) DO UPDATE SET items = EXCLUDED.items,"
        " dealer_id = EXCLUDED.dealer_id, note = EXCLUDED.note,"
        " engine_hours = EXCLUDED.engine_hours RETURNING id",
        (vid, done_on, odometer_km, items, dealer_id, note, engine_hours))
    row = await cur.fetchone()
    assert row is not None
    await conn.execute(
        "INSERT INTO dirty_hours (vehicle_id, hour)"
        " SELECT id, (extract(epoch FROM last_sample_at) / 3600)::bigint"
        " FROM vehicles WHERE id = %s AND last_sample_at IS NOT NULL ON CONFLICT DO NOTHING",
        (vid,))
    return int(row[0])


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """A service-book entry as it arrives from a dealer system."""

    vin: str
    done_on: date
    odometer_km: float
    items: list[str]
    dealer_id: str | None = None
    note: str | None = None
    engine_hours: float | None = None


def parse_service(vin: str, body: dict[str, Any]) -> ServiceEntry:
    """Validate one service record; errors name the field."""
    problem = vin_problem(vin)
    if problem:
        raise RegistryError(f"vin: {problem}")
    try:
        done_on = date.fromisoformat(str(body.get("done_on", "")))
    except ValueError:
        raise RegistryError("field 'done_on' must be YYYY-MM-DD") from None
    try:
        km = float(body["odometer_km"])
    except (KeyError, TypeError, ValueError):
        raise RegistryError("field 'odometer_km' must be a number") from None
    if not 0 <= km <= 2_000_000:
        raise RegistryError("field 'odometer_km' must be within 0..2000000")
    items = body.get("items")
    if isinstance(items, str):
        items = [i.strip() for i in items.split(";") if i.strip()]
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise RegistryError("field 'items' must be a non-empty list of item names")
    dealer, note = body.get("dealer_id") or None, body.get("note") or None
    hours = body.get("engine_hours")
    if hours in ("", None):
        hours = None
    else:
        try:
            hours = float(hours)
        except (TypeError, ValueError):
            raise RegistryError("field 'engine_hours' must be a number") from None
        if not 0 <= hours <= 200_000:
            raise RegistryError("field 'engine_hours' must be within 0..200000")
    return ServiceEntry(vin, done_on, km, items, dealer, note, hours)


def parse_rows(text: str, content_type: str) -> list[dict[str, Any]]:
    """Rows of a CSV file (header row) or of an NDJSON file (one object per line)."""
    if "csv" in content_type:
        return list(csv.DictReader(io.StringIO(text)))
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RegistryError(f"line {n}: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise RegistryError(f"line {n}: expected a JSON object")
            rows.append(obj)
    return rows


def parse_service_bulk(text: str, content_type: str) -> list[ServiceEntry]:
    """CSV (items separated by ';') or NDJSON."""
    out = []
    for n, row in enumerate(parse_rows(text, content_type), start=1):
        try:
            out.append(parse_service(str(row.get("vin", "")), row))
        except RegistryError as exc:
            raise RegistryError(f"record {n}: {exc}") from None
    return out
