"""Per-vehicle usage reads: signals, events, trips, daily usage, profile; the bulk export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from decoders.catalog import load_catalog
from features import profile_store
from features.profile import WINDOWS
from gateway.http.auth import requires
from gateway.http.common import POOL, check_vin, ok, vehicle_id
from gateway.http.errors import problem
from gateway.http.params import date_param, int_param, time_range
from timeseries import reader


def _window(request: web.Request) -> int:
    raw = request.query.get("window", "30")
    if raw not in {str(w) for w in WINDOWS}:
        raise problem(400, f"parameter 'window' must be one of {', '.join(map(str, WINDOWS))}")
    return int(raw)


def _today() -> date:
    return datetime.now(UTC).date()


@requires("read")
async def signals(request: web.Request) -> web.Response:
    """Raw points, or time buckets with ``bucket=1m|5m|15m|1h|1d``."""
    name = request.query.get("name")
    if not name:
        raise problem(400, "parameter 'name' is required (a VSS signal path)")
    spec = load_catalog().signals.get(name)
    if spec is None:
        raise problem(400, f"parameter 'name': unknown signal {name!r}")
    bucket = request.query.get("bucket")
    if bucket is not None and bucket not in reader.BUCKETS:
        raise problem(400, f"parameter 'bucket' must be one of {', '.join(reader.BUCKETS)}")
    start, end = time_range(request)
    limit = int_param(request, "limit", 10_000, 1, 100_000)
    vin, vid = await vehicle_id(request)
    rng = reader.TimeRange(start, end)
    async with request.app[POOL].connection() as conn:
        if bucket:
            buckets = await reader.signal_buckets(conn, vid, spec, rng, bucket, limit)
            return ok({"vin": vin, "name": name, "unit": spec.unit, "bucket": bucket,
                       "buckets": buckets})
        points = await reader.signal_points(conn, vid, spec, rng, limit)
    return ok({"vin": vin, "name": name, "unit": spec.unit, "points": points})


@requires("read")
async def events(request: web.Request) -> web.Response:
    """Cockpit events in a time range."""
    start, end = time_range(request)
    limit = int_param(request, "limit", 10_000, 1, 100_000)
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        items = await reader.events(conn, vid, reader.TimeRange(start, end), limit)
    return ok({"vin": vin, "items": items})


@requires("read")
async def trips(request: web.Request) -> web.Response:
    """Trips starting in [from, to) (default: the last 30 days)."""
    start, end = time_range(request, default_span_ms=30 * 86_400_000)
    limit = int_param(request, "limit", 1000, 1, 10_000)
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        items = await reader.trips(conn, vid, reader.TimeRange(start, end), limit)
    return ok({"vin": vin, "items": items})


@requires("read")
async def daily(request: web.Request) -> web.Response:
    """Daily usage for local days in [from, to] (default: the last 30 days)."""
    last = date_param(request, "to", _today())
    first = date_param(request, "from", last - timedelta(days=29))
    if first > last:
        raise problem(400, "parameter 'from' must not be after 'to'")
    limit = int_param(request, "limit", 366, 1, 3660)
    vin, vid = await vehicle_id(request)
    async with request.app[POOL].connection() as conn:
        items = await reader.daily(conn, vid, first, last, limit)
    return ok({"vin": vin, "items": items})


@requires("read")
async def profile(request: web.Request) -> web.Response:
    """The usage profile over ``window`` days ending ``as_of`` (default today, UTC)."""
    window = _window(request)
    as_of = date_param(request, "as_of", _today())
    vin = check_vin(request.match_info["vin"])
    async with request.app[POOL].connection() as conn:
        body = await profile_store.profile_json(conn, vin, window, as_of)
    if body is None:
        raise problem(404, f"vehicle {vin} is unknown")
    return web.Response(text=body, content_type="application/json")


@requires("read")
async def export_profiles(request: web.Request) -> web.StreamResponse:
    """Every vehicle's profile, streamed as NDJSON (default) or CSV (features/profile_store)."""
    window = _window(request)
    as_of = date_param(request, "as_of", _today())
    fmt = request.query.get("format", "ndjson")
    if fmt not in ("ndjson", "csv"):
        raise problem(400, "parameter 'format' must be ndjson or csv")
    resp = web.StreamResponse(headers={
        "Content-Type": "application/x-ndjson" if fmt == "ndjson" else "text/csv"})
    await resp.prepare(request)
    async with request.app[POOL].connection() as conn:
        chunks = profile_store.export_ndjson if fmt == "ndjson" else profile_store.export_csv
        async for chunk in chunks(conn, window, as_of):
            await resp.write(chunk)
    await resp.write_eof()
    return resp


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_get("/v1/vehicles/{vin}/signals", signals)
    app.router.add_get("/v1/vehicles/{vin}/events", events)
    app.router.add_get("/v1/vehicles/{vin}/trips", trips)
    app.router.add_get("/v1/vehicles/{vin}/daily", daily)
    app.router.add_get("/v1/vehicles/{vin}/profile", profile)
    app.router.add_get("/v1/profiles", export_profiles)
