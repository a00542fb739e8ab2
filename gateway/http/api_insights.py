"""Cockpit feature usage: one vehicle's, the fleet's by group, retention curves, and the
vehicles that never used a feature (for onboarding campaigns)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from features import insights, software
from features.feature_usage import vehicle_feature_usage
from features.version_insights import COMPONENT, version_insights_from
from gateway.http.auth import requires
from gateway.http.common import POOL, ok, vehicle_id
from gateway.http.errors import problem
from gateway.http.params import choice_param, date_param

_FEATURE = re.compile(r"^[a-z0-9_]{1,32}(\.[a-z0-9_]{1,32}){1,3}$")
_BY = tuple(insights.GROUPS)
_BY_ANY = _BY + tuple(COMPONENT)
_NEVER_USED_COLUMNS = ("vin", "model", "owner_id", "dealer_id", "delivered_on", "segment")


def _yesterday() -> date:
    return (datetime.now(UTC) - timedelta(days=1)).date()


def _feature(request: web.Request) -> str:
    name = request.match_info["feature"]
    if not _FEATURE.match(name):
        raise problem(400, f"path parameter 'feature': {name[:60]!r} is not a feature name"
                           " such as 'projection.carplay'")
    return name


@requires("read")
async def vehicle_features(request: web.Request) -> web.Response:
    """One vehicle's feature usage as of a day (default yesterday, UTC)."""
    as_of = date_param(request, "as_of", _yesterday())
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        cur = await conn.execute("SELECT delivered_on FROM vehicles WHERE id = %s", (vid,))
        row = await cur.fetchone()
        body = await vehicle_feature_usage(conn, vid, as_of, row[0] if row else None)
    return ok({"vin": vin, **body})


@requires("read")
async def fleet_features(request: web.Request) -> web.Response:
    """Adoption, intensity and discovery per group and feature over [from, to]."""
    to = date_param(request, "to", _yesterday())
    frm = date_param(request, "from", to - timedelta(days=29))
    if frm > to:
        raise problem(400, "parameter 'from' must not be after 'to'")
    by = choice_param(request, "by", _BY_ANY, "model")
    model = request.query.get("model") or None
    async with request.app[POOL].connection() as conn:
        if by in COMPONENT:
            groups, stored = await version_insights_from(
                conn, by, frm, to, model)  # type: ignore[arg-type]
        else:
            groups, stored = await insights.feature_insights_from(
                conn, by, frm, to, model)  # type: ignore[arg-type]
    return ok({"by": by, "model": model, "from": frm.isoformat(), "to": to.isoformat(),
               "computed_from": "stored_periods" if stored else "days", "groups": groups})


@requires("read")
async def vehicle_software(request: web.Request) -> web.Response:
    """The vehicle's software versions (head unit, vehicle) and their history."""
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        return ok({"vin": vin, **await software.of_vehicle(conn, vid)})


@requires("read")
async def feature_retention(request: web.Request) -> web.Response:
    """Week-N retention of one feature per delivery cohort, optionally within one group."""
    feature = _feature(request)
    to = date_param(request, "to", _yesterday())
    by = choice_param(request, "by", _BY, "model")
    group = request.query.get("group")
    async with request.app[POOL].connection() as conn:
        cohorts = await insights.retention(conn, feature, by, group, to)  # type: ignore[arg-type]
    return ok({"feature": feature, "to": to.isoformat(), "by": by, "group": group,
               "cohorts": cohorts})


@requires("read")
async def never_used(request: web.Request) -> web.StreamResponse:
    """Vehicles (with owner and dealer) that never used the feature, as NDJSON or CSV."""
    feature = _feature(request)
    fmt = choice_param(request, "format", ("ndjson", "csv"), "ndjson")
    filters = {k: request.query[k] for k in ("model", "segment", "dealer_id")
               if k in request.query}
    resp = web.StreamResponse(headers={
        "Content-Type": "application/x-ndjson" if fmt == "ndjson" else "text/csv"})
    await resp.prepare(request)
    if fmt == "csv":
        await resp.write((",".join(_NEVER_USED_COLUMNS) + "\r\n").encode())
    async with request.app[POOL].connection() as conn:
        async for row in insights.never_used(conn, feature, filters):
            if fmt == "ndjson":
                await resp.write((json.dumps(row) + "\n").encode())
            else:
                out = io.StringIO()
                csv.writer(out).writerow([row[c] if row[c] is not None else ""
                                          for c in _NEVER_USED_COLUMNS])
                await resp.write(out.getvalue().encode())
    await resp.write_eof()
    return resp


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_get("/v1/vehicles/{vin}/features", vehicle_features)
    app.router.add_get("/v1/vehicles/{vin}/software", vehicle_software)
    app.router.add_get("/v1/insights/features", fleet_features)
    app.router.add_get("/v1/insights/features/{feature}/retention", feature_retention)
    app.router.add_get("/v1/insights/features/{feature}/never-used", never_used)
