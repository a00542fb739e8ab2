"""The status page at ``/`` (static HTML + inline JS, no build step) and its data."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import psycopg
from aiohttp import web

from features import matrix
from gateway.http.common import HEALTH, METRICS, POOL, ok

MATRIX_EVERY_S = 60.0  # the matrix reads every vehicle's profile: not at every poll
_matrix_cache: dict[int, tuple[float, dict[str, Any]]] = {}


async def page(_: web.Request) -> web.Response:
    """The page; it polls /status.json and, for a VIN, the signals API."""
    html = (resources.files("gateway.http") / "status_page.html").read_text("utf-8")
    return web.Response(text=html, content_type="text/html")


async def _matrix(app: web.Application, conn: psycopg.AsyncConnection) -> dict[str, Any]:
    """Yesterday's activity x maturity counts per vehicle and per owner (UTC), recomputed
    each minute."""
    cached = _matrix_cache.get(id(app))
    if cached and time.monotonic() - cached[0] < MATRIX_EVERY_S:
        return cached[1]
    day = datetime.now(UTC).date() - timedelta(days=1)
    found, unsettled = await matrix.members(conn, day, "vehicle", None, None)
    by_owner, _ = await matrix.members(conn, day, "owner", None, None)
    value = {"as_of": day.isoformat(), "unsettled_vehicles": unsettled,
             "cells": {a: {m: c["count"] for m, c in row.items()}
                       for a, row in matrix.count(found).items()},
             "owner_cells": {a: {m: c["count"] for m, c in row.items()}
                             for a, row in matrix.count(by_owner).items()}}
    _matrix_cache[id(app)] = (time.monotonic(), value)
    return value


def _value(metrics: Any, name: str) -> float:
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


async def status(request: web.Request) -> web.Response:
    """Aggregates for operators: counters, lag, dead letters, segments, service due."""
    m = request.app[METRICS]
    lag_n = _value(m, "telematics_end_to_end_lag_seconds_count")
    async with request.app[POOL].connection() as conn:
        cur = await conn.execute("SELECT reason_code, count(*) FROM dead_letters GROUP BY 1"
                                 " ORDER BY 2 DESC")
        dead = {r: int(n) for r, n in await cur.fetchall()}
        cur = await conn.execute("SELECT coalesce(activity, 'not yet derived'), count(*) FROM"
                                 " vehicles GROUP BY 1 ORDER BY 1")
        fleet = {a: int(n) for a, n in await cur.fetchall()}
        cur = await conn.execute("SELECT coalesce(service_status, 'unregistered'), count(*) FROM"
                                 " vehicles GROUP BY 1 ORDER BY 1")
        service = {s: int(n) for s, n in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT vin, service_status, dealer_id, round(odometer_km::numeric, 1)::float8"
            " FROM vehicles WHERE service_status IN ('due_soon', 'overdue')"
            " ORDER BY service_status DESC, vin LIMIT 50")
        due = [{"vin": v, "service_status": s, "dealer_id": d, "odometer_km": o}
               for v, s, d, o in await cur.fetchall()]
        cur = await conn.execute("SELECT state, count(*) FROM service_reminders GROUP BY 1"
                                 " ORDER BY 1")
        reminders = {st: int(n) for st, n in await cur.fetchall()}
        cur = await conn.execute("SELECT type, count(*) FROM feed_events GROUP BY 1 ORDER BY 1")
        events = {t: int(n) for t, n in await cur.fetchall()}
        cur = await conn.execute("SELECT count(DISTINCT vehicle_id) FROM dirty_hours")
        pending = (await cur.fetchone() or (0,))[0]
        cells = await _matrix(request.app, conn)
    return ok({
        "health": request.app[HEALTH](),
        "received": _value(m, "telematics_messages_received_total"),
        "committed": _value(m, "telematics_messages_committed_total"),
        "samples": _value(m, "telematics_samples_committed_total"),
        "lag_avg_s": _value(m, "telematics_end_to_end_lag_seconds_sum") / lag_n if lag_n else None,
        "dead_letters": dead, "fleet": fleet, "service": service, "due": due,
        "reminders": reminders, "events": events,
        "derivation_pending": int(pending), "matrix": cells,
    })
