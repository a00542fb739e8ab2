"""The OpenAPI 3.1 document of the HTTP API, and a plain HTML rendering of it for /docs."""

from __future__ import annotations

import html
from typing import Any

from decoders.catalog import load_catalog
from features.feed import FEED_TYPES
from features.owners import OWNER_TYPES
from features.registry import CHANNELS
from features.reminder_store import STATES as REMINDER_STATES
from features.segments import ACTIVITIES, ENGAGEMENT_TYPES
from features.worklist import GROUP_BY
from gateway import __version__

J = "application/json"
NUM = {"type": ["number", "null"]}
STR = {"type": ["string", "null"]}
INT = {"type": "integer"}


def _err(*codes: int) -> dict[str, Any]:
    texts = {400: "invalid parameter or body (detail names it)", 401: "missing or bad token",
             403: "token lacks the scope", 404: "unknown vehicle or resource",
             409: "the resource is not in a state that allows it",
             413: "body too large", 503: "not ready"}
    return {str(c): {"description": texts[c], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for c in codes}


def _ok(schema: dict[str, Any], code: int = 200, desc: str = "OK") -> dict[str, Any]:
    return {str(code): {"description": desc, "content": {J: {"schema": schema}}}}


def _q(name: str, schema: dict[str, Any], desc: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": desc}


VIN = {"name": "vin", "in": "path", "required": True, "description": "17-character VIN",
       "schema": {"type": "string", "pattern": "^[A-HJ-NPR-Z0-9]{17}$"}}
TIME = {"type": "string", "description": "ISO 8601 date-time, or ms since epoch"}
FROM_TO = [_q("from", TIME, "start (inclusive)"), _q("to", TIME, "end (exclusive); default now")]
LIMIT = [_q("limit", {"type": "integer", "minimum": 1, "maximum": 100000}, "rows at most")]
READ = [{"bearer": ["read"]}]
WRITE = [{"bearer": ["write"]}]
ADMIN = [{"bearer": ["admin"]}]
ITEMS = {"type": "array", "items": {"type": "object"}}


def _op(summary: str, security: list[dict[str, list[str]]] | None, params: list[Any],
        responses: dict[str, Any], body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "parameters": params, "responses": responses}
    if security is not None:
        op["security"] = security
    else:
        op["security"] = []
    if body is not None:
        op["requestBody"] = body
    return op


def _vehicle_ops() -> dict[str, Any]:
    reg_body = {"required": True, "content": {J: {"schema": {
        "$ref": "#/components/schemas/Registration"}}}}
    vehicle = {"$ref": "#/components/schemas/Vehicle"}
    return {
        "/v1/vehicles": {"get": _op("List vehicles, paged by cursor", READ, [
            _q("segment", {"type": "string",
                           "enum": list(ACTIVITIES)}, "activity"),
            _q("dealer_id", {"type": "string"}, "dealer"),
            _q("registered", {"type": "string", "enum": ["true", "false"]}, "in the registry"),
            _q("cursor", {"type": "integer", "minimum": 0}, "the previous page's next"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size")],
            {**_ok({"type": "object", "required": ["items", "next"], "properties": {
                "items": {"type": "array", "items": vehicle}, "next": STR}}),
             **_err(400, 401, 403)})},
        "/v1/vehicles:import": {"post": _op("Bulk registry import", WRITE, [], {
            **_ok({"type": "object", "properties": {"imported": INT}}), **_err(400, 401, 403, 413)},
            {"required": True, "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}}}})},
        "/v1/vehicles/{vin}": {
            "get": _op("Registry entry and latest state", READ, [VIN],
                       {**_ok(vehicle), **_err(400, 401, 403, 404)}),
            "put": _op("Register or update", WRITE, [VIN],
                       {**_ok(vehicle), **_err(400, 401, 403, 413)}, reg_body)},
    }


def _usage_ops() -> dict[str, Any]:
    window = _q("window", {"type": "string", "enum": ["7", "30", "90"]}, "days")
    as_of = _q("as_of", {"type": "string", "format": "date"}, "last day of the window")
    vin_items = {"type": "object", "required": ["vin", "items"],
                 "properties": {"vin": {"type": "string"}, "items": ITEMS}}
    signals = {"type": "object", "required": ["vin", "name", "unit"], "properties": {
        "vin": {"type": "string"}, "name": {"type": "string"}, "unit": {"type": "string"},
        "points": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2}},
        "bucket": {"type": "string"}, "buckets": ITEMS}}
    e4 = _err(400, 401, 403, 404)
    return {
        "/v1/vehicles/{vin}/signals": {"get": _op("Raw or bucketed signal values", READ, [
            VIN, _q("name", {"type": "string", "enum": list(load_catalog().signals)},
                    "VSS signal path", True), *FROM_TO, *LIMIT,
            _q("bucket", {"type": "string", "enum": ["1m", "5m", "15m", "1h", "1d"]},
               "bucket size: avg/min/max/last/count per bucket")], {**_ok(signals), **e4})},
        "/v1/vehicles/{vin}/events": {"get": _op(
            "Cockpit events", READ, [VIN, *FROM_TO, *LIMIT], {**_ok(vin_items), **e4})},
        "/v1/vehicles/{vin}/trips": {"get": _op(
            "Trips starting in the range", READ, [VIN, *FROM_TO, *LIMIT],
            {**_ok(vin_items), **e4})},
        "/v1/vehicles/{vin}/daily": {"get": _op("Daily usage per local day", READ, [
            VIN, _q("from", {"type": "string", "format": "date"}, "first day"),
            _q("to", {"type": "string", "format": "date"}, "last day"), *LIMIT],
            {**_ok(vin_items), **e4})},
        "/v1/vehicles/{vin}/profile": {"get": _op("Usage profile", READ, [VIN, window, as_of],
                                                  {**_ok({"$ref": "#/components/schemas/Profile"}),
                                                   **e4})},
        "/v1/profiles": {"get": _op("Every vehicle's profile, streamed", READ, [
            window, as_of, _q("format", {"type": "string", "enum": ["ndjson", "csv"]}, "")],
            {"200": {"description": "one profile per line", "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}}}}, **_err(400, 401, 403)})},
        "/v1/vehicles/{vin}/services": {"post": _op("Add a service record", WRITE, [VIN], {
            **_ok({"type": "object", "required": ["id"], "properties": {"id": INT}}, 201,
                  "created"), **_err(400, 401, 403, 404, 413)},
            {"required": True, "content": {J: {"schema": {
                "$ref": "#/components/schemas/ServiceRecord"}}}})},
        "/v1/vehicles/{vin}/service": {"get": _op("Service position and history", READ, [VIN], {
            **_ok({"type": "object", "required": ["vin", "history", "status", "records"],
                   "properties": {
                "vin": {"type": "string"}, "status": {"type": ["string", "null"],
                                                      "enum": ["ok", "due_soon", "overdue", None]},
                "history": {"type": "string", "enum": ["known", "unknown"]},
                "records": ITEMS, "items": ITEMS, "next": {"type": ["object", "null"]}}}),
            **e4})},
        "/v1/vehicles/{vin}/dtcs": {"get": _op(
            "Trouble codes (Vehicle.OBD.DTCList): active first; first/last seen, cleared",
            READ, [VIN], {**_ok({"type": "object", "required": ["vin", "codes"], "properties": {
                "vin": {"type": "string"}, "codes": {"type": "array", "items": {
                    "type": "object", "required": ["code", "active", "first_seen",
                                                   "last_seen", "cleared_at", "episodes"],
                    "properties": {"code": {"type": "string"}, "active": {"type": "boolean"},
                                   "first_seen": {"type": "string"},
                                   "last_seen": {"type": "string"},
                                   "cleared_at": {"type": ["string", "null"]},
                                   "episodes": {"type": "integer"}}}}}}), **e4})},
        "/v1/vehicles/{vin}/visits": {"get": _op(
            "Dealer visits seen from the car's position", READ, [VIN], {
                **_ok({"type": "object", "required": ["vin", "visits"], "properties": {
                    "vin": {"type": "string"}, "visits": ITEMS}}), **e4})},
    }


def _segment_ops() -> dict[str, Any]:
    by = _q("by", {"type": "string", "enum": ["vehicle", "owner"]},
            "count vehicles, or owners (an owner's cell: the most active activity of the"
            " vehicles they hold and their own lifetime maturity)")
    filters = [_q("dealer_id", {"type": "string"}, "only this dealer's vehicles"),
               _q("model", {"type": "string"}, "only this model")]
    day = {"type": "string", "format": "date"}
    cell = {"type": "string", "pattern": "^(active|declining|lapsing|dormant)/"
            "(novice|regular|expert|unknown)$"}
    return {
        "/v1/segments/matrix": {"get": _op(
            "Counts per activity x maturity cell on a day, with each cell's strategy", READ,
            [_q("as_of", day, "default: yesterday (UTC)"), by, *filters],
            {**_ok({"type": "object", "required": ["as_of", "by", "cells"], "properties": {
                "as_of": {"type": "string"}, "by": {"type": "string"}, "total": INT,
                "unsettled_vehicles": INT, "cells": {"type": "object"}}}),
             **_err(400, 401, 403)})},
        "/v1/segments/transitions": {"get": _op(
            "Movement between the cells of two days; with from_cell and to_cell, who moved",
            READ, [_q("from", day, "default: 30 days before 'to'"),
                   _q("to", day, "default: yesterday (UTC)"), by, *filters,
                   _q("from_cell", cell, "drill-down: 'activity/maturity' on 'from'"),
                   _q("to_cell", cell, "drill-down: 'activity/maturity' on 'to'")],
            {**_ok({"type": "object", "required": ["from", "to", "moves"], "properties": {
                "from": {"type": "string"}, "to": {"type": "string"},
                "moves": {"type": "object"}, "members": {"type": "array",
                                                         "items": {"type": "string"}}}}),
             **_err(400, 401, 403)})},
    }


def _insight_ops() -> dict[str, Any]:
    day = {"type": "string", "format": "date"}
    by = _q("by", {"type": "string", "enum": ["model", "delivery_month", "dealer", "segment"]},
            "how vehicles are grouped (default model)")
    feature = {"name": "feature", "in": "path", "required": True, "description":
               "a feature of the cockpit catalog, e.g. projection.carplay or apps.weather",
               "schema": {"type": "string",
                          "pattern": r"^[a-z0-9_]{1,32}(\.[a-z0-9_]{1,32}){1,3}$"}}
    obj = {"type": "object"}
    return {
        "/v1/vehicles/{vin}/features": {"get": _op(
            "One vehicle's cockpit feature usage: first and last use, discovery time, uses and"
            " minutes per 7/30/90 days and per drive-hour, retention", READ,
            [VIN, _q("as_of", day, "default: yesterday (UTC)")],
            {**_ok({"type": "object", "required": ["vin", "as_of", "features", "never_used"],
                    "properties": {"vin": {"type": "string"}, "as_of": {"type": "string"},
                                   "catalog_version": {"type": "string"},
                                   "observed_from_delivery": {"type": "boolean"},
                                   "features": ITEMS, "never_used": {
                                       "type": "array", "items": {"type": "string"}},
                                   "unknown_uses_90": INT}}),
             **_err(400, 401, 403, 404)})},
        "/v1/vehicles/{vin}/software": {"get": _op(
            "The vehicle's software versions (head unit, vehicle): current and history, each"
            " version with its first and last report and the local days it stands for", READ,
            [VIN],
            {**_ok({"type": "object", "required": ["vin", "current", "history"],
                    "properties": {"vin": {"type": "string"}, "current": obj,
                                   "history": ITEMS}}),
             **_err(400, 401, 403, 404)})},
        "/v1/insights/features": {"get": _op(
            "Per group and feature over [from, to]: adoption among active vehicles, intensity"
            " per drive-hour, discovery time (median, p90); by software version: the vehicles"
            " on the days of each version", READ,
            [_q("by", {"type": "string", "enum": [
                "model", "delivery_month", "dealer", "segment", "software_version",
                "vehicle_software_version"]}, "how vehicles are grouped (default model)"),
             _q("model", {"type": "string"}, "only this model's vehicles"),
             _q("from", day, "default: 29 days before 'to'"),
             _q("to", day, "default: yesterday (UTC)")],
            {**_ok({"type": "object",
                    "required": ["by", "from", "to", "computed_from", "groups"],
                    "properties": {"by": {"type": "string"}, "model": {"type": ["string", "null"]},
                                   "from": {"type": "string"},
                                   "to": {"type": "string"},
                                   "computed_from": {"type": "string",
                                                     "enum": ["stored_periods", "days"]},
                                   "groups": ITEMS}}),
             **_err(400, 401, 403)})},
        "/v1/insights/features/{feature}/retention": {"get": _op(
            "Week-N retention of a feature per delivery cohort", READ,
            [feature, by, _q("group", {"type": "string"}, "only this group of 'by'"),
             _q("to", day, "default: yesterday (UTC)")],
            {**_ok({"type": "object", "required": ["feature", "cohorts"],
                    "properties": {"feature": {"type": "string"}, "cohorts": ITEMS}}),
             **_err(400, 401, 403)})},
        "/v1/insights/features/{feature}/never-used": {"get": _op(
            "Vehicles that never used a feature, with owner and dealer (NDJSON or CSV)", READ,
            [feature, _q("model", {"type": "string"}, "only this model"),
             _q("segment", {"type": "string"}, "only this current activity"),
             _q("dealer_id", {"type": "string"}, "only this dealer's vehicles"),
             _q("format", {"type": "string", "enum": ["ndjson", "csv"]}, "default ndjson")],
            {"200": {"description": "one vehicle per line", "content": {
                "application/x-ndjson": {"schema": obj}, "text/csv": {"schema": obj}}},
             **_err(400, 401, 403)})},
    }


def _energy_ops() -> dict[str, Any]:
    day = {"type": "string", "format": "date"}
    window = [VIN, _q("from", day, "first local day (default: 89 days before 'to')"),
              _q("to", day, "last local day (default: today, UTC)")]
    level = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
    common = {"start": STR, "end": STR, "local_day": STR, "start_level_pct": level,
              "end_level_pct": level, "latitude": NUM, "longitude": NUM}
    charge = {"type": "object", "properties": {
        **common, "place": {"type": ["string", "null"], "enum": ["home", "public", None]},
        "kwh_added": NUM, "avg_power_kw": NUM, "complete": {"type": "boolean"},
        "current": {"type": ["string", "null"], "enum": ["AC", "DC", None]}}}
    refuel = {"type": "object", "properties": {**common, "litres_added": NUM}}

    def answer(item: dict[str, Any]) -> dict[str, Any]:
        return {**_ok({"type": "object", "required": ["vin", "from", "to", "sessions",
                                                      "summary"], "properties": {
            "vin": {"type": "string"}, "from": STR, "to": STR,
            "sessions": {"type": "array", "items": item}, "summary": {"type": "object"}}}),
                **_err(400, 401, 403, 404)}
    return {
        "/v1/vehicles/{vin}/charging-sessions": {"get": _op(
            "Charging sessions (start, end, levels, kWh added, AC/DC, average power, home or"
            " public) and their summary: home share, kWh per 100 km driven", READ, window,
            answer(charge))},
        "/v1/vehicles/{vin}/battery-health": {"get": _op(
            "Traction-battery state of health: daily readings, latest, degradation trend"
            " (points a year since the last repair), the day it is projected to fall below"
            " the service threshold", READ, [VIN, _q("as_of", day, "default: yesterday (UTC)")],
            {**_ok({"type": "object", "required": ["vin", "as_of", "readings", "latest"],
                    "properties": {"vin": STR, "as_of": STR, "threshold_pct": NUM,
                                   "readings": ITEMS, "latest": {"type": ["object", "null"]},
                                   "trend_since": STR, "trend_pct_per_year": NUM,
                                   "below_threshold": {"type": "boolean"},
                                   "projected_below_threshold_on": STR}}),
             **_err(400, 401, 403, 404)})},
        "/v1/insights/battery-health": {"get": _op(
            "Latest traction-battery health per model or age band: median, p10, p90, below"
            " the service threshold, median trend", READ,
            [_q("by", {"type": "string", "enum": ["model", "age"]}, "default model"),
             _q("as_of", day, "default: yesterday (UTC)")],
            {**_ok({"type": "object", "required": ["by", "as_of", "groups"], "properties": {
                "by": STR, "as_of": STR, "groups": ITEMS}}), **_err(400, 401, 403)})},
        "/v1/vehicles/{vin}/refuels": {"get": _op(
            "Refuels (the readings before and after, levels, litres added, position) and"
            " their summary: litres per 100 km driven", READ, window, answer(refuel))},
    }


def _owner_ops() -> dict[str, Any]:
    oid = {"name": "owner_id", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "an owner id (a merged id answers with the surviving owner)"}
    day = _q("as_of", {"type": "string", "format": "date"}, "default: yesterday (UTC)")
    cell = {"activity": STR, "maturity": {"type": "string"}, "strategy": STR}
    fields: dict[str, Any] = {
        "owner_id": {"type": "string"}, "type": {"type": "string", "enum": list(OWNER_TYPES)},
        "channel": STR, "merged_from": {"type": "array", "items": {"type": "string"}}}
    owner = {"type": "object", "required": ["owner_id", "type", "merged_from"],
             "properties": fields}
    return {
        "/v1/owners": {"get": _op("Owners and their cells on a day", READ, [
            day, _q("segment", {"type": "string", "enum": list(ACTIVITIES)}, "activity"),
            _q("maturity", {"type": "string", "enum": ["novice", "regular", "expert"]}, ""),
            _q("type", {"type": "string", "enum": list(OWNER_TYPES)}, "owner type"),
            _q("dealer_id", {"type": "string"}, "holding a vehicle of this dealer"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 100000}, "rows at most")],
            {**_ok({"type": "object", "required": ["as_of", "total", "items"], "properties": {
                "as_of": {"type": "string"}, "total": INT, "items": {"type": "array", "items": {
                    "type": "object", "properties": {"owner_id": {"type": "string"},
                                                     "type": STR, "vehicles": INT, **cell}}}}}),
             **_err(400, 401, 403)})},
        "/v1/owners/{owner_id}": {
            "get": _op("An owner's vehicles and periods, cell, lifetime and usage", READ,
                       [oid, day], {**_ok({**owner, "properties": {
                           **fields, "as_of": {"type": "string"},
                           "vehicles": ITEMS, "cell": {"type": ["object", "null"],
                                                       "properties": cell},
                           "lifetime": {"type": "object"}, "profile": {"type": "object"}}}),
                           **_err(400, 401, 403, 404)}),
            "put": _op("Create or update an owner record", WRITE, [oid],
                       {**_ok(owner), **_err(400, 401, 403, 413)},
                       {"required": True, "content": {J: {"schema": {
                           "type": "object", "additionalProperties": False, "properties": {
                               "type": {"type": "string", "enum": list(OWNER_TYPES)},
                               "channel": {"type": "string", "enum": list(CHANNELS)}}}}}})},
        "/v1/owners/{owner_id}/engagement": {"post": _op(
            "Engagement events of an owner (idempotent by event_id)", WRITE, [oid],
            {**_ok({"type": "object", "required": ["owner_id", "received", "new"],
                    "properties": {"owner_id": {"type": "string"}, "received": INT,
                                   "new": INT, "duplicates": INT}}),
             **_err(400, 401, 403, 404, 413)},
            {"required": True, "content": {J: {"schema": {
                "type": "object", "required": ["events"], "additionalProperties": False,
                "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 1000,
                                          "items": {"type": "object",
                                                    "required": ["event_id", "type", "at"],
                                                    "additionalProperties": False,
                                                    "properties": {
                    "event_id": {"type": "string", "minLength": 1, "maxLength": 200},
                    "type": {"type": "string", "enum": list(ENGAGEMENT_TYPES)},
                    "at": {"type": "string", "format": "date-time"},
                    "vin": {"type": "string", "pattern": "^[A-HJ-NPR-Z0-9]{17}$"}}}}}}}}})},
        "/v1/owners/{owner_id}/merge": {"post": _op(
            "Merge duplicate owner ids into this one", WRITE, [oid],
            {**_ok({**owner, "properties": {**fields, "merged": {
                "type": "array", "items": {"type": "string"}}}}), **_err(400, 401, 403, 409)},
            {"required": True, "content": {J: {"schema": {
                "type": "object", "required": ["duplicates"], "additionalProperties": False,
                "properties": {"duplicates": {"type": "array", "minItems": 1,
                                              "items": {"type": "string"}}}}}}})},
    }


def _feed_ops() -> dict[str, Any]:
    hook = {"type": "object", "required": ["id", "url", "event_types"], "properties": {
        "id": INT, "url": {"type": "string"}, "event_types": {"type": "array"},
        "cursor": {"type": "string"}}}
    page = {"type": "object", "required": ["items", "next"],
            "properties": {"items": ITEMS, "next": STR}}
    types = list(FEED_TYPES)
    return {
        "/v1/events": {"get": _op("Durable events feed after a cursor", READ, [
            _q("after", {"type": "integer", "minimum": 0}, "cursor: the last id seen"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
            _q("type", {"type": "string"}, "comma-separated: " + ", ".join(types))],
            {**_ok(page), **_err(400, 401, 403)})},
        "/v1/webhooks": {
            "get": _op("Webhooks and their recent deliveries", ADMIN, [],
                       {**_ok({"type": "object", "properties": {"items": ITEMS}}),
                        **_err(401, 403)}),
            "post": _op("Register a webhook", ADMIN, [], {
                **_ok(hook, 201, "created"), **_err(400, 401, 403, 413)},
                {"required": True, "content": {J: {"schema": {
                    "type": "object", "required": ["url", "secret", "event_types"],
                    "properties": {"url": {"type": "string", "format": "uri"},
                                   "dealer_id": {"type": "string", "minLength": 1},
                                   "secret": {"type": "string", "minLength": 16},
                                   "event_types": {"type": "array", "items": {
                                       "type": "string", "enum": types}}}}}}})},
        "/v1/webhooks/{id}": {"delete": _op("Remove a webhook", ADMIN, [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            {"204": {"description": "deleted"}, **_err(401, 403, 404)})},
        "/v1/dead-letters": {"get": _op("Rejected payloads, newest first", READ, [
            _q("reason", {"type": "string"}, "reason code"),
            _q("cursor", {"type": "integer", "minimum": 0}, "the previous page's next"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size")],
            {**_ok(page), **_err(400, 401, 403)})},
        "/v1/dead-letters/{id}:retry": {"post": _op("Decode again and store what is valid",
                                                    ADMIN, [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            {**_ok({"type": "object", "required": ["outcome"], "properties": {
                "outcome": {"type": "string"}}}), **_err(401, 403, 404)})},
    }


def _service_loop_ops() -> dict[str, Any]:
    dealer_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "dealer id"}
    rid = {"name": "id", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 1}, "description": "reminder id"}
    day = {"type": "string", "format": "date"}
    dealer = {"type": "object", "required": ["id", "name", "timezone"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "timezone": {"type": "string"},
        "latitude": NUM, "longitude": NUM, "booking_url": STR,
        "advisors": {"type": "array", "items": {"type": "object"}},
        "geofence_m": {"type": ["number", "null"], "minimum": 10, "maximum": 5000,
                       "description": "radius of the lot around the location; default 150"},
        "opening_hours": {"type": ["object", "null"], "description":
                          "weekday (mon..sun) -> \"HH:MM-HH:MM\" or null (closed); default"
                          " Monday to Friday 08:00-18:00, Saturday 08:00-13:00"}}}
    reminder = {"type": "object", "required": ["id", "vin", "cycle", "state", "items"],
                "properties": {"id": {"type": "string"}, "vin": {"type": "string"},
                               "cycle": {"type": "string"}, "history": {"type": "string"},
                               "state": {"type": "string", "enum": list(REMINDER_STATES)},
                               "items": ITEMS}}
    page = {"type": "object", "required": ["items", "next"],
            "properties": {"items": ITEMS, "next": STR}}
    report = {"type": "object", "required": ["groups"], "properties": {"groups": ITEMS}}
    return {
        "/v1/dealers/{id}": {
            "get": _op("A dealer", READ, [dealer_id], {**_ok(dealer), **_err(400, 401, 403, 404)}),
            "put": _op("Create or replace a dealer", WRITE, [dealer_id],
                       {**_ok(dealer), **_err(400, 401, 403, 413)},
                       {"required": True, "content": {J: {"schema": dealer}}})},
        "/v1/dealers/{id}/worklist": {"get": _op(
            "The advisor's worklist: vehicles whose items fall due, soonest first", READ,
            [dealer_id, _q("within_days", {"type": "integer", "minimum": 0, "maximum": 730},
                           "horizon in days (default 30)"),
             _q("as_of", day, "default: today in the dealer's time zone")],
            {**_ok({"type": "object", "required": ["items"], "properties": {"items": ITEMS}}),
             **_err(400, 401, 403, 404)})},
        "/v1/reminders": {"get": _op("Service reminders, by id", READ, [
            _q("state", {"type": "string", "enum": list(REMINDER_STATES)}, "state"),
            _q("dealer_id", {"type": "string"}, "dealer"), _q("vin", {"type": "string"}, "VIN"),
            _q("after", {"type": "integer", "minimum": 0}, "cursor: the last id seen"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size")],
            {**_ok(page), **_err(400, 401, 403)})},
        "/v1/reminders/{id}": {"get": _op("One reminder with its items", READ, [rid], {
            **_ok(reminder), **_err(400, 401, 403, 404)})},
        "/v1/reminders/{id}:acknowledge": {"post": _op(
            "The owner or advisor has seen the reminder", WRITE, [rid],
            {**_ok(reminder), **_err(400, 401, 403, 404, 409)})},
        "/v1/reminders/{id}:book": {"post": _op(
            "A service appointment is booked", WRITE, [rid],
            {**_ok(reminder), **_err(400, 401, 403, 404, 409, 413)},
            {"required": False, "content": {J: {"schema": {"type": "object", "properties": {
                "booked_for": day}}}}})},
        "/v1/reports/service-conversion": {"get": _op(
            "Reminders issued and what became of them; services without a reminder", READ, [
                _q("from", day, "first day (default 90 days ago)"),
                _q("to", day, "last day (default today)"),
                _q("by", {"type": "string", "enum": list(GROUP_BY)}, "grouping"),
                _q("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv")],
            {"200": {"description": "OK", "content": {J: {"schema": report},
                                                      "text/csv": {"schema": {
                                                          "type": "string"}}}},
             **_err(400, 401, 403)})},
    }


def _ops_ops() -> dict[str, Any]:
    return {
        "/health": {"get": _op("Liveness", None, [], _ok({"type": "object", "required": [
            "status"], "properties": {"status": {"type": "string"}}}))},
        "/ready": {"get": _op("Broker and database connected, lag within bounds", None, [], {
            **_ok({"type": "object", "properties": {"ready": {"type": "boolean"}}}),
            **_err(503)})},
        "/status.json": {"get": _op("Aggregates behind the status page at /", None, [], _ok({
            "type": "object", "required": ["health", "committed", "dead_letters", "fleet"]}))},
        "/metrics": {"get": _op("Prometheus metrics", None, [], {"200": {
            "description": "text format", "content": {"text/plain": {"schema": {
                "type": "string"}}}}})},
    }


def spec() -> dict[str, Any]:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Telematics gateway API", "version": __version__,
                 "description": "Usage features, service book and events for the customer "
                                "platform. See docs/api.md."},
        "paths": {**_ops_ops(), **_vehicle_ops(), **_usage_ops(), **_segment_ops(),
                  **_owner_ops(), **_insight_ops(), **_energy_ops(), **_feed_ops(),
                  **_service_loop_ops()},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {"type": "object", "required": ["status", "detail"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"},
                    "status": INT, "detail": {"type": "string"}}},
                "Registration": {"type": "object", "properties": {
                    "model": {"type": "string"},
                    "powertrain": {"type": "string", "enum": ["ice", "bev", "phev"]},
                    "timezone": {"type": "string"},
                    "delivered_on": {"type": "string", "format": "date"},
                    "owner_id": {"type": "string"}, "dealer_id": {"type": "string"},
                    "advisor_id": {"type": "string"},
                    "owner_channel": {"type": "string", "enum": list(CHANNELS)},
                    "owner_since": {"type": "string", "format": "date", "description":
                                    "the owner's first day: delivery for the first owner"
                                    " (default), the transfer day for a new one (default"
                                    " today)"},
                    "owner_until": {"type": "string", "format": "date", "description":
                                    "the first day the owner no longer holds the car, with"
                                    " no successor (export, scrappage, end of a lease)"},
                    "owner_type": {"type": "string", "enum": list(OWNER_TYPES)},
                    "home_lat": {"type": "number", "minimum": -90, "maximum": 90,
                                 "description": "the owner's home (with home_lon): charging"
                                 " within 250 m of it is home charging"},
                    "home_lon": {"type": "number", "minimum": -180, "maximum": 180}},
                    "additionalProperties": False},
                "Vehicle": {"type": "object", "required": ["vin", "registered"], "properties": {
                    "vin": {"type": "string"}, "registered": {"type": "boolean"},
                    "model": STR, "powertrain": STR, "timezone": STR, "delivered_on": STR,
                    "owner_id": STR, "dealer_id": STR, "advisor_id": STR, "owner_channel": STR,
                    "home_lat": NUM, "home_lon": NUM, "first_seen": STR, "last_seen": STR,
                    "last_sample_at": STR, "odometer_km": NUM, "activity": STR,
                    "service_status": STR, "fuel_pct": NUM, "soc_pct": NUM,
                    "is_charging": {"type": ["boolean", "null"]},
                    "position": {"type": ["object", "null"]}}},
                "Profile": {"type": "object", "required": ["vin", "window_days", "km_total"],
                            "properties": {"vin": {"type": "string"}, "window_days": INT,
                                           "km_total": {"type": "number"}}},
                "ServiceRecord": {"type": "object", "required": ["done_on", "odometer_km",
                                                                 "items"], "properties": {
                    "done_on": {"type": "string", "format": "date"},
                    "odometer_km": {"type": "number", "minimum": 0, "maximum": 2000000},
                    "engine_hours": {"type": "number", "minimum": 0, "maximum": 200000},
                    "items": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "dealer_id": {"type": "string"}, "note": {"type": "string"}}},
            },
        },
    }


def docs_html() -> str:
    """A readable page of every operation, parameter and response (no JavaScript)."""
    out = [f"<!doctype html><meta charset=utf-8><title>Telematics API {__version__}</title>",
           "<style>body{font:15px system-ui;max-width:60em;margin:2em auto}code{background:"
           "#eee;padding:0 .2em}h3{margin-bottom:.2em}</style>",
           "<h1>Telematics gateway API</h1><p>Machine-readable: <a href=/openapi.json>"
           "/openapi.json</a>. Auth: <code>Authorization: Bearer &lt;token&gt;</code>.</p>"]
    for path, ops in spec()["paths"].items():
        for method, op in ops.items():
            scopes = ", ".join(s for sec in op["security"] for s in sec.get("bearer", []))
            out.append(f"<h3><code>{method.upper()} {html.escape(path)}</code></h3>"
                       f"<p>{html.escape(op['summary'])}"
                       f"{' &mdash; scope: ' + scopes if scopes else ' &mdash; open'}</p><ul>")
            for p in op["parameters"]:
                req = " (required)" if p.get("required") else ""
                out.append(f"<li><code>{p['name']}</code> in {p['in']}{req}: "
                           f"{html.escape(p.get('description', ''))}</li>")
            codes = ", ".join(op["responses"])
            out.append(f"<li>responses: {codes}</li></ul>")
    return "\n".join(out)
