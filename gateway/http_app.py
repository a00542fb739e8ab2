"""HTTP out: health and the first read endpoints, served from the gateway process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool

from decoders.catalog import load_catalog
from decoders.errors import REJECT_CODES
from decoders.sanity import vin_problem
from gateway.http_errors import problem, problem_middleware
from gateway.http_params import int_param, time_range
from gateway.metrics import Metrics
from timeseries import reader

POOL = web.AppKey("pool", AsyncConnectionPool)
METRICS = web.AppKey("metrics", Metrics)
HealthInfo = Callable[[], dict[str, Any]]
HEALTH: web.AppKey[HealthInfo] = web.AppKey("health")


async def health(request: web.Request) -> web.Response:
    """Liveness plus a little state."""
    return web.json_response({"status": "ok", **request.app[HEALTH]()})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _vehicle(request: web.Request) -> tuple[str, int]:
    vin = request.match_info["vin"]
    if vin_problem(vin):
        raise problem(400, f"path parameter 'vin': {vin_problem(vin)}")
    async with request.app[POOL].connection() as conn:
        vid = await reader.vehicle_id(conn, vin)
    if vid is None:
        raise problem(404, f"vehicle {vin} has never been seen")
    return vin, vid


async def signals(request: web.Request) -> web.Response:
    """``GET /v1/vehicles/{vin}/signals?name=&from=&to=&limit=``"""
    name = request.query.get("name")
    if not name:
        raise problem(400, "parameter 'name' is required (a VSS signal path)")
    spec = load_catalog().signals.get(name)
    if spec is None:
        raise problem(400, f"parameter 'name': unknown signal {name!r}")
    start, end = time_range(request)
    limit = int_param(request, "limit", 10_000, 1, 100_000)
    vin, vid = await _vehicle(request)
    async with request.app[POOL].connection() as conn:
        points = await reader.signal_points(conn, vid, spec, reader.TimeRange(start, end), limit)
    return web.json_response({"vin": vin, "name": name, "unit": spec.unit, "points": points})


async def events(request: web.Request) -> web.Response:
    """``GET /v1/vehicles/{vin}/events?from=&to=&limit=``"""
    start, end = time_range(request)
    limit = int_param(request, "limit", 10_000, 1, 100_000)
    vin, vid = await _vehicle(request)
    async with request.app[POOL].connection() as conn:
        items = await reader.events(conn, vid, reader.TimeRange(start, end), limit)
    return web.json_response({"vin": vin, "items": items})


async def dead_letters(request: web.Request) -> web.Response:
    """``GET /v1/dead-letters?reason=&limit=&cursor=`` newest first."""
    reason = request.query.get("reason") or None
    if reason is not None and reason not in REJECT_CODES:
        raise problem(400, f"parameter 'reason': {reason!r} is not one of {list(REJECT_CODES)}")
    limit = int_param(request, "limit", 100, 1, 1000)
    cursor = int_param(request, "cursor", 0, 0, 2**62) or None
    async with request.app[POOL].connection() as conn:
        rows = await reader.dead_letters(conn, reason, cursor, limit)
    items = [{"id": r["id"], "topic": r["topic"], "vin": r["vin"], "decoder": r["decoder"],
              "reason_code": r["reason_code"], "reason": r["reason"], "details": r["details"],
              "partial": r["partial"], "size": r["size"], "times": r["times"],
              "received_at": r["received_at"].isoformat()} for r in rows]
    nxt = str(items[-1]["id"]) if len(items) == limit else None
    return web.json_response({"items": items, "next": nxt})


def build_app(pool: AsyncConnectionPool, metrics_: Metrics,
              health_info: Callable[[], dict[str, Any]]) -> web.Application:
    """The aiohttp application."""
    app = web.Application(middlewares=[problem_middleware], client_max_size=1024 * 1024)
    app[POOL] = pool
    app[METRICS] = metrics_
    app[HEALTH] = health_info
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/vehicles/{vin}/signals", signals)
    app.router.add_get("/v1/vehicles/{vin}/events", events)
    app.router.add_get("/v1/dead-letters", dead_letters)
    return app
