"""The service loop over HTTP: dealers, the advisor's worklist, reminders and their
lifecycle, and the conversion report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from features import dealers, reminder_lifecycle, worklist
from features.registry import RegistryError
from features.reminder_store import STATES, State
from gateway.http.auth import requires
from gateway.http.common import POOL, json_body, ok
from gateway.http.errors import problem
from gateway.http.params import choice_param, date_param, int_param


@requires("write")
async def put_dealer(request: web.Request) -> web.Response:
    """Create or replace a dealer (id in the path)."""
    body = await json_body(request)
    body.setdefault("id", request.match_info["id"])
    if body["id"] != request.match_info["id"]:
        raise problem(400, "field 'id' differs from the id in the path")
    try:
        dealer = dealers.parse(body)
    except RegistryError as exc:
        raise problem(400, str(exc)) from None
    async with request.app[POOL].connection() as conn:
        await dealers.upsert(conn, dealer)
        return ok(await dealers.get(conn, dealer.id))


async def _dealer(request: web.Request) -> dict[str, Any]:
    async with request.app[POOL].connection() as conn:
        found = await dealers.get(conn, request.match_info["id"])
    if found is None:
        raise problem(404, f"dealer {request.match_info['id']!r} is unknown")
    return found


@requires("read")
async def get_dealer(request: web.Request) -> web.Response:
    """One dealer."""
    return ok(await _dealer(request))


@requires("read")
async def get_worklist(request: web.Request) -> web.Response:
    """Vehicles whose items fall due within ``within_days``, soonest first."""
    dealer = await _dealer(request)
    within = int_param(request, "within_days", 30, 0, 730)
    today = datetime.now(ZoneInfo(dealer["timezone"])).date()
    as_of = date_param(request, "as_of", today)
    async with request.app[POOL].connection() as conn:
        items = await worklist.worklist(conn, dealer, as_of, within)
    return ok({"dealer_id": dealer["id"], "as_of": as_of.isoformat(), "within_days": within,
               "items": items})


@requires("read")
async def list_reminders(request: web.Request) -> web.Response:
    """Reminders in id order; filter by state, dealer, vehicle; page with ``after``."""
    state = choice_param(request, "state", STATES)
    after = int_param(request, "after", 0, 0, 2**62)
    limit = int_param(request, "limit", 100, 1, 1000)
    async with request.app[POOL].connection() as conn:
        items = await reminder_lifecycle.find(conn, state, request.query.get("dealer_id"),
                                              request.query.get("vin"), after, limit)
    return ok({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


@requires("read")
async def get_reminder(request: web.Request) -> web.Response:
    """One reminder with its items."""
    async with request.app[POOL].connection() as conn:
        found = await reminder_lifecycle.get(conn, int(request.match_info["id"]))
    if found is None:
        raise problem(404, f"reminder {request.match_info['id']} does not exist")
    return ok(found)


async def _move(request: web.Request, to: State) -> web.Response:
    body = await json_body(request) if request.can_read_body else {}
    booked_for = None
    if to == "booked" and body.get("booked_for") is not None:
        try:
            booked_for = date.fromisoformat(str(body["booked_for"]))
        except ValueError:
            raise problem(400, "field 'booked_for' must be YYYY-MM-DD") from None
    async with request.app[POOL].connection() as conn, conn.transaction():
        moved, found = await reminder_lifecycle.transition(
            conn, int(request.match_info["id"]), to, booked_for)
    if found is None:
        raise problem(404, f"reminder {request.match_info['id']} does not exist")
    if not moved:
        raise problem(409, f"reminder {found['id']} is {found['state']}: it cannot become {to}")
    return ok(found)


@requires("write")
async def acknowledge(request: web.Request) -> web.Response:
    """The owner or the advisor has seen the reminder."""
    return await _move(request, "acknowledged")


@requires("write")
async def book(request: web.Request) -> web.Response:
    """A service appointment is booked (optional ``booked_for`` date)."""
    return await _move(request, "booked")


@requires("read")
async def conversion_report(request: web.Request) -> web.Response:
    """Reminders issued in [from, to] and what became of them, per dealer, model or
    segment; ``format=csv`` for a spreadsheet."""
    today = datetime.now(UTC).date()
    start = date_param(request, "from", today - timedelta(days=90))
    end = date_param(request, "to", today)
    if start > end:
        raise problem(400, "parameter 'from' must not be after 'to'")
    by = choice_param(request, "by", worklist.GROUP_BY, "dealer")
    fmt = choice_param(request, "format", ("json", "csv"), "json")
    async with request.app[POOL].connection() as conn:
        rows = await worklist.conversion(conn, start, end, by)  # type: ignore[arg-type]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[by or "dealer", *worklist.REPORT_FIELDS])
        writer.writeheader()
        writer.writerows(rows)
        return web.Response(text=out.getvalue(), content_type="text/csv")
    return ok({"from": start.isoformat(), "to": end.isoformat(), "by": by, "groups": rows})


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_put("/v1/dealers/{id}", put_dealer)
    app.router.add_get("/v1/dealers/{id}", get_dealer)
    app.router.add_get("/v1/dealers/{id}/worklist", get_worklist)
    app.router.add_get("/v1/reminders", list_reminders)
    app.router.add_get(r"/v1/reminders/{id:\d+}", get_reminder)
    app.router.add_post(r"/v1/reminders/{id:\d+}:acknowledge", acknowledge)
    app.router.add_post(r"/v1/reminders/{id:\d+}:book", book)
    app.router.add_get("/v1/reports/service-conversion", conversion_report)
