"""``/v1/vehicles``: registry, latest state, list, bulk import."""

from __future__ import annotations

from aiohttp import web
from psycopg import AsyncConnection

from features import queries, registry
from features.segments import ACTIVITIES as SEGMENTS
from gateway.http.auth import requires
from gateway.http.common import MAX_BODY, POOL, check_vin, json_body, ok
from gateway.http.errors import problem
from gateway.http.params import int_param


@requires("write")
async def put_vehicle(request: web.Request) -> web.Response:
    """Register or update a vehicle."""
    vin = check_vin(request.match_info["vin"])
    try:
        reg = registry.parse(vin, await json_body(request))
    except registry.RegistryError as exc:
        raise problem(400, str(exc)) from None
    async with request.app[POOL].connection() as conn:
        try:
            async with conn.transaction():
                await registry.upsert(conn, reg)
        except registry.RegistryError as exc:  # e.g. a transfer before the current owner
            raise problem(400, str(exc)) from None
        state = await queries.vehicle(conn, vin)
    return ok(state)


@requires("read")
async def get_vehicle(request: web.Request) -> web.Response:
    """Registry entry and latest state."""
    vin = check_vin(request.match_info["vin"])
    async with request.app[POOL].connection() as conn:
        state = await queries.vehicle(conn, vin)
    if state is None:
        raise problem(404, f"vehicle {vin} is unknown")
    return ok(state)


@requires("read")
async def list_vehicles(request: web.Request) -> web.Response:
    """Paged list with filters: segment, dealer_id, registered."""
    q = request.query
    segment = q.get("segment") or None
    if segment is not None and segment not in SEGMENTS:
        raise problem(400, f"parameter 'segment' must be one of {', '.join(SEGMENTS)}")
    registered = None
    if "registered" in q:
        if q["registered"] not in ("true", "false"):
            raise problem(400, "parameter 'registered' must be true or false")
        registered = q["registered"] == "true"
    cursor = int_param(request, "cursor", 0, 0, 2**31 - 1)
    limit = int_param(request, "limit", 100, 1, 1000)
    async with request.app[POOL].connection() as conn:
        items, nxt = await queries.vehicles(conn, segment, q.get("dealer_id") or None,
                                            registered, cursor, limit)
    return ok({"items": items, "next": str(nxt) if nxt is not None else None})


@requires("write")
async def import_vehicles(request: web.Request) -> web.Response:
    """Bulk registry import: text/csv or application/x-ndjson."""
    if request.content_length is not None and request.content_length > 20 * MAX_BODY:
        raise problem(413, f"body over {20 * MAX_BODY} bytes")
    kind = request.content_type
    if kind not in ("text/csv", "application/x-ndjson", "application/json"):
        raise problem(400, "Content-Type must be text/csv or application/x-ndjson")
    try:
        regs = registry.parse_bulk(await request.text(), kind)
    except (registry.RegistryError, UnicodeDecodeError) as exc:
        raise problem(400, str(exc)) from None
    async with request.app[POOL].connection() as conn:
        try:
            async with conn.transaction():
                for n, reg in enumerate(regs, start=1):
                    await _upsert(conn, reg, n)
        except registry.RegistryError as exc:
            raise problem(400, str(exc)) from None
    return ok({"imported": len(regs)})


async def _upsert(conn: AsyncConnection, reg: registry.Registration, n: int) -> None:
    try:
        await registry.upsert(conn, reg)
    except registry.RegistryError as exc:
        raise registry.RegistryError(f"entry {n} ({reg.vin}): {exc}") from None


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_put("/v1/vehicles/{vin}", put_vehicle)
    app.router.add_get("/v1/vehicles/{vin}", get_vehicle)
    app.router.add_get("/v1/vehicles", list_vehicles)
    app.router.add_post("/v1/vehicles:import", import_vehicles)
