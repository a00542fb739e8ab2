"""``/v1/owners``: owner records, merges of duplicate ids, an owner's layer, lookup by cell."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from features import engagement, matrix, owner_cells, owners
from features.registry import CHANNELS
from features.segments import ACTIVITIES
from gateway.http.auth import requires
from gateway.http.common import POOL, json_body, ok
from gateway.http.errors import problem
from gateway.http.params import choice_param, date_param, int_param


def _yesterday() -> date:
    return (datetime.now(UTC) - timedelta(days=1)).date()


def _owner_id(request: web.Request) -> str:
    """The path's owner id: 1 to 200 printable characters."""
    raw = request.match_info["owner_id"]
    if not 0 < len(raw) <= 200 or not raw.isprintable():
        raise problem(400, "path parameter 'owner_id' must be 1 to 200 printable characters")
    return raw


def _vehicle(v: dict[str, Any]) -> dict[str, Any]:
    return {"vin": v["vin"], "model": v["model"], "dealer_id": v["dealer_id"],
            "from": v["from_day"].isoformat(),
            "to": v["to_day"].isoformat() if v["to_day"] else None, "holds": v["holds"]}


def _cell(o: owner_cells.OwnerDay, as_of: date) -> dict[str, Any]:
    level = o.maturity(as_of)
    return {"activity": o.activity, "maturity": level,
            "strategy": matrix.strategy(o.activity, level) if o.activity else None}


@requires("write")
async def put_owner(request: web.Request) -> web.Response:
    """Create or update an owner record (type, contact channel)."""
    body = await json_body(request)
    unknown = sorted(set(body) - {"type", "channel"})
    if unknown:
        raise problem(400, f"unknown field {unknown[0]!r}")
    kind, channel = body.get("type"), body.get("channel")
    if kind is not None and kind not in owners.OWNER_TYPES:
        raise problem(400, f"field 'type' must be one of {', '.join(owners.OWNER_TYPES)}")
    if channel is not None and channel not in CHANNELS:
        raise problem(400, f"field 'channel' must be one of {', '.join(CHANNELS)}")
    async with request.app[POOL].connection() as conn, conn.transaction():
        survivor = await owners.ensure(conn, _owner_id(request), kind, channel)
        rec = await owners.record(conn, survivor)
    return ok(rec)


@requires("write")
async def merge_owners(request: web.Request) -> web.Response:
    """Merge duplicate ids into this one; the surviving id answers for all of them."""
    oid = _owner_id(request)
    body = await json_body(request)
    dups = body.get("duplicates")
    if set(body) != {"duplicates"} or not isinstance(dups, list) or not dups or not all(
            isinstance(d, str) and 0 < len(d) <= 200 for d in dups):
        raise problem(400, "body must be {\"duplicates\": [owner ids]} (field 'duplicates')")
    async with request.app[POOL].connection() as conn, conn.transaction():
        try:
            merged = await owners.merge(conn, oid, dups)
        except owners.OwnerError as exc:
            raise problem(409 if "was merged" in str(exc) else 400, str(exc)) from None
        if merged:
            await engagement.remark(conn, await owners.resolve(conn, oid))
        rec = await owners.record(conn, oid)
    return ok({**(rec or {}), "merged": merged})


@requires("write")
async def post_engagement(request: web.Request) -> web.Response:
    """A batch of engagement events (app, remote commands, campaigns, bookings); each event
    id is stored once, so a batch may be re-sent."""
    oid = _owner_id(request)
    try:
        events = engagement.parse(await json_body(request), datetime.now(UTC))
    except engagement.EngagementError as exc:
        raise problem(400, str(exc)) from None
    async with request.app[POOL].connection() as conn, conn.transaction():
        if await owners.record(conn, oid) is None:
            raise problem(404, f"owner {oid!r} is unknown")
        survivor, new = await engagement.add(conn, oid, events)
    return ok({"owner_id": survivor, "received": len(events), "new": new,
               "duplicates": len(events) - new})


@requires("read")
async def get_owner(request: web.Request) -> web.Response:
    """An owner (by any of its ids): vehicles and periods, cell, lifetime, usage profile."""
    oid, as_of = _owner_id(request), date_param(request, "as_of", _yesterday())
    async with request.app[POOL].connection() as conn:
        rec = await owners.record(conn, oid)
        if rec is None:
            raise problem(404, f"owner {oid!r} is unknown")
        day = (await owner_cells.owner_days(conn, as_of, [rec["owner_id"]])).get(
            rec["owner_id"], owner_cells.OwnerDay(rec["owner_id"]))
        usage = await owner_cells.profile(conn, rec["owner_id"], as_of)
    return ok({**rec, "as_of": as_of.isoformat(), "vehicles": [_vehicle(v) for v in day.vehicles],
               "cell": _cell(day, as_of) if day.since else None,
               "lifetime": {"since": day.since.isoformat() if day.since else None,
                            "km": round(day.km, 1), "domains": sorted(day.domains)},
               "profile": usage})


@requires("read")
async def list_owners(request: web.Request) -> web.Response:
    """Owners and their cells on a day, filtered by activity, maturity, type, dealer."""
    as_of = date_param(request, "as_of", _yesterday())
    segment = choice_param(request, "segment", ACTIVITIES)
    level = choice_param(request, "maturity", matrix.MATURITIES)
    kind = choice_param(request, "type", owners.OWNER_TYPES)
    dealer = request.query.get("dealer_id")
    limit = int_param(request, "limit", 1000, 1, 100_000)
    async with request.app[POOL].connection() as conn:
        days = await owner_cells.owner_days(conn, as_of)
        cur = await conn.execute("SELECT owner_id, owner_type FROM owners"
                                 " WHERE merged_into IS NULL")
        types = dict(await cur.fetchall())
    items = []
    for oid in sorted(days):
        o, cell = days[oid], _cell(days[oid], as_of)
        if (segment and cell["activity"] != segment) or (level and cell["maturity"] != level) \
                or (kind and types.get(oid) != kind) \
                or (dealer and not any(v["dealer_id"] == dealer for v in o.held())):
            continue
        items.append({"owner_id": oid, "type": types.get(oid), "vehicles": len(o.held()),
                      **cell})
    return ok({"as_of": as_of.isoformat(), "total": len(items), "items": items[:limit]})


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_get("/v1/owners", list_owners)
    app.router.add_get("/v1/owners/{owner_id}", get_owner)
    app.router.add_put("/v1/owners/{owner_id}", put_owner)
    app.router.add_post("/v1/owners/{owner_id}/merge", merge_owners)
    app.router.add_post("/v1/owners/{owner_id}/engagement", post_engagement)
