"""Service book, the events feed and dead letters."""

from __future__ import annotations

from aiohttp import web

from decoders.errors import REJECT_CODES
from features import dtcs, queries, registry, visit_store
from features.feed import FEED_TYPES
from features.service import to_json
from gateway.http.auth import requires
from gateway.http.common import CAN_MODELS, DEFAULT_TZ, LAYOUT, POOL, json_body, ok, vehicle_id
from gateway.http.errors import problem
from gateway.http.params import int_param
from gateway.ops.dead_letters import retry as dead_letters_retry
from timeseries import reader


@requires("write")
async def add_service(request: web.Request) -> web.Response:
    """Add a service record (dealer systems)."""
    vin, vid = await vehicle_id(request)
    try:
        entry = registry.parse_service(vin, await json_body(request))
    except registry.RegistryError as exc:
        raise problem(400, str(exc)) from None
    async with request.app[POOL].connection() as conn, conn.transaction():
        rid = await registry.add_service_record(conn, vid, entry.done_on, entry.odometer_km,
                                                entry.items, entry.dealer_id, entry.note,
                                                entry.engine_hours)
    return ok({"id": rid, "vin": vin, "done_on": entry.done_on.isoformat(),
               "odometer_km": entry.odometer_km, "items": entry.items,
               "dealer_id": entry.dealer_id, "note": entry.note,
               "engine_hours": entry.engine_hours}, status=201)


@requires("read")
async def get_service(request: web.Request) -> web.Response:
    """Status, the next item, every item with its predicted date, and the service book
    (``records``); ``history`` is ``unknown`` while the book is empty."""
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        status, book, _ = await queries.service_position(conn, vid, request.app[DEFAULT_TZ])
    records = [{"id": r.id, "done_on": r.done_on.isoformat(), "odometer_km": r.odometer_km,
                "engine_hours": r.engine_hours, "items": list(r.items)} for r in book]
    body = {"vin": vin, "registered": status is not None, "records": records,
            **(to_json(status) if status else {
                "status": None, "history": "known" if book else "unknown", "items": []})}
    return ok(body)


@requires("read")
async def get_dtcs(request: web.Request) -> web.Response:
    """The vehicle's trouble codes: active ones first, each with first and last seen, when
    it cleared and how many times it was set."""
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        return ok({"vin": vin, "codes": await dtcs.of_vehicle(conn, vid)})


@requires("read")
async def get_visits(request: web.Request) -> web.Response:
    """The vehicle's dealer visits, oldest first."""
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        return ok({"vin": vin, "visits": await visit_store.visits_json(conn, vid)})


@requires("read")
async def feed(request: web.Request) -> web.Response:
    """Durable events after a cursor, in order; resume with ``after=next``."""
    after = int_param(request, "after", 0, 0, 2**62)
    limit = int_param(request, "limit", 100, 1, 1000)
    types = None
    if request.query.get("type"):
        types = request.query["type"].split(",")
        unknown = sorted(set(types) - set(FEED_TYPES))
        if unknown:
            raise problem(400, f"parameter 'type': unknown {unknown[0]!r}; one of"
                               f" {', '.join(FEED_TYPES)}")
    async with request.app[POOL].connection() as conn:
        items = await queries.feed(conn, after, types, limit)
    nxt = items[-1]["id"] if items else str(after)
    return ok({"items": items, "next": nxt})


@requires("read")
async def dead_letters(request: web.Request) -> web.Response:
    """Rejected payloads, newest first; page with ``cursor=next``."""
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
    return ok({"items": items, "next": nxt})


@requires("admin")
async def retry_dead_letter(request: web.Request) -> web.Response:
    """Decode a dead letter again with the current decoders and store what is valid now."""
    dl_id = int(request.match_info["id"])
    async with request.app[POOL].connection() as conn:
        result = await dead_letters_retry(conn, request.app[LAYOUT], dl_id,
                                          request.app[CAN_MODELS])
    if result is None:
        raise problem(404, f"dead letter {dl_id} does not exist")
    return ok(result)


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_post("/v1/vehicles/{vin}/services", add_service)
    app.router.add_get("/v1/vehicles/{vin}/service", get_service)
    app.router.add_get("/v1/vehicles/{vin}/dtcs", get_dtcs)
    app.router.add_get("/v1/vehicles/{vin}/visits", get_visits)
    app.router.add_get("/v1/events", feed)
    app.router.add_get("/v1/dead-letters", dead_letters)
    app.router.add_post(r"/v1/dead-letters/{id:\d+}:retry", retry_dead_letter)
