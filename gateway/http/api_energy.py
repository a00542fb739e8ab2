"""A vehicle's charging sessions and refuels, with where they happened and a summary over
the requested local days (home share, energy or fuel per 100 km); its traction battery's
health and trend, and the fleet's by model or age."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from features.battery_health import fleet_battery, vehicle_battery
from features.session_store import vehicle_sessions
from gateway.http.auth import requires
from gateway.http.common import POOL, ok, vehicle_id
from gateway.http.errors import problem
from gateway.http.params import choice_param, date_param

DEFAULT_DAYS = 90


async def _sessions(request: web.Request, kind: str) -> web.Response:
    to = date_param(request, "to", datetime.now(UTC).date())
    frm = date_param(request, "from", to - timedelta(days=DEFAULT_DAYS - 1))
    if frm > to:
        raise problem(400, "parameter 'from' must not be after 'to'")
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        body = await vehicle_sessions(conn, vid, kind, frm, to)
    return ok({"vin": vin, "from": frm.isoformat(), "to": to.isoformat(), **body})


@requires("read")
async def charging_sessions(request: web.Request) -> web.Response:
    """Charging sessions that started on the local days [from, to]."""
    return await _sessions(request, "charge")


@requires("read")
async def refuels(request: web.Request) -> web.Response:
    """Refuels seen on the local days [from, to]."""
    return await _sessions(request, "refuel")


def _yesterday() -> date:
    return (datetime.now(UTC) - timedelta(days=1)).date()


@requires("read")
async def battery_health(request: web.Request) -> web.Response:
    """One vehicle's traction-battery health readings, trend and projection."""
    as_of = date_param(request, "as_of", _yesterday())
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        body = await vehicle_battery(conn, vid, as_of)
    return ok({"vin": vin, **body})


@requires("read")
async def fleet_battery_health(request: web.Request) -> web.Response:
    """The distribution of the latest health per model or age band."""
    as_of = date_param(request, "as_of", _yesterday())
    by = choice_param(request, "by", ("model", "age"), "model")
    async with request.app[POOL].connection() as conn:
        groups = await fleet_battery(conn, by, as_of)  # type: ignore[arg-type]
    return ok({"by": by, "as_of": as_of.isoformat(), "groups": groups})


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_get("/v1/vehicles/{vin}/charging-sessions", charging_sessions)
    app.router.add_get("/v1/vehicles/{vin}/refuels", refuels)
    app.router.add_get("/v1/vehicles/{vin}/battery-health", battery_health)
    app.router.add_get("/v1/insights/battery-health", fleet_battery_health)
