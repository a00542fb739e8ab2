"""The activity x maturity matrix and the movement between two dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aiohttp import web

from features import matrix
from gateway.http.auth import requires
from gateway.http.common import POOL, ok
from gateway.http.errors import problem
from gateway.http.params import choice_param, date_param

_CELL = re.compile(r"^(active|declining|lapsing|dormant)/(novice|regular|expert|unknown)$")


def _yesterday() -> datetime:
    return datetime.now(UTC) - timedelta(days=1)


def _cell(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if raw is not None and not _CELL.match(raw):
        raise problem(400, f"parameter {name!r}: {raw!r} is not a cell 'activity/maturity'")
    return raw


@requires("read")
async def get_matrix(request: web.Request) -> web.Response:
    """Counts per activity x maturity cell on a day, with each cell's strategy."""
    as_of = date_param(request, "as_of", _yesterday().date())
    by = choice_param(request, "by", ("vehicle", "owner"), "vehicle")
    async with request.app[POOL].connection() as conn:
        found, unsettled = await matrix.members(
            conn, as_of, by,  # type: ignore[arg-type]
            request.query.get("dealer_id"), request.query.get("model"))
    return ok({"as_of": as_of.isoformat(), "by": by, "total": len(found),
               "unsettled_vehicles": unsettled, "cells": matrix.count(found)})


@requires("read")
async def get_transitions(request: web.Request) -> web.Response:
    """How many moved from each cell to each cell between two days; with ``from_cell``
    and ``to_cell``, who did."""
    to = date_param(request, "to", _yesterday().date())
    frm = date_param(request, "from", to - timedelta(days=30))
    if frm > to:
        raise problem(400, "parameter 'from' must not be after 'to'")
    by = choice_param(request, "by", ("vehicle", "owner"), "vehicle")
    from_cell, to_cell = _cell(request, "from_cell"), _cell(request, "to_cell")
    if (from_cell is None) != (to_cell is None):
        raise problem(400, "parameters 'from_cell' and 'to_cell' go together")
    dealer, model = request.query.get("dealer_id"), request.query.get("model")
    async with request.app[POOL].connection() as conn:
        before, _ = await matrix.members(conn, frm, by, dealer, model)  # type: ignore[arg-type]
        after, _ = await matrix.members(conn, to, by, dealer, model)  # type: ignore[arg-type]
    body: dict[str, object] = {"from": frm.isoformat(), "to": to.isoformat(), "by": by,
                               "moves": matrix.movements(before, after)}
    if from_cell and to_cell:
        body["members"] = matrix.who_moved(before, after, from_cell, to_cell)
    return ok(body)


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_get("/v1/segments/matrix", get_matrix)
    app.router.add_get("/v1/segments/transitions", get_transitions)
