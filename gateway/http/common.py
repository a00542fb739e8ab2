"""Shared pieces of the HTTP handlers: app keys, JSON bodies, vehicle lookup."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from decoders.can_dbc import CanModels
from decoders.sanity import vin_problem
from gateway.http.errors import problem
from gateway.metrics import Metrics
from timeseries import reader
from timeseries.schema import Layout

POOL = web.AppKey("pool", AsyncConnectionPool)
METRICS = web.AppKey("metrics", Metrics)
LAYOUT = web.AppKey("layout", Layout)
CAN_MODELS = web.AppKey("can_models", CanModels)
HealthInfo = Callable[[], dict[str, Any]]
HEALTH: web.AppKey[HealthInfo] = web.AppKey("health")
DEFAULT_TZ = web.AppKey("default_tz", str)
MAX_BODY = 1024 * 1024


def check_vin(vin: str) -> str:
    """400 unless ``vin`` is a well-formed VIN."""
    why = vin_problem(vin)
    if why:
        raise problem(400, f"path parameter 'vin': {why}")
    return vin


async def vehicle_id(request: web.Request) -> tuple[str, int]:
    """VIN from the path and its id; 400 if malformed, 404 if never seen."""
    vin = check_vin(request.match_info["vin"])
    async with request.app[POOL].connection() as conn:
        vid = await reader.vehicle_id(conn, vin)
    if vid is None:
        raise problem(404, f"vehicle {vin} is unknown")
    return vin, vid


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 naming the problem otherwise."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise problem(413, f"body over {MAX_BODY} bytes")
    try:
        body = json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise problem(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise problem(400, "body must be a JSON object")
    bad = _bad_text(body)
    if bad:
        raise problem(400, f"body: {bad}")
    return body


def _bad_text(value: Any, where: str = "") -> str | None:
    """Strings PostgreSQL cannot store: NUL characters, lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where or 'a value'} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where or 'a value'} is not valid Unicode (lone surrogate)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _bad_text(k, "a key") or _bad_text(v, f"field {k!r}"[:60])
            if bad:
                return bad
    if isinstance(value, list):
        for v in value:
            bad = _bad_text(v, where)
            if bad:
                return bad
    return None


def dumps(data: Any) -> str:
    """JSON with dates and datetimes as ISO strings."""
    return json.dumps(data, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o))


def ok(data: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.json_response(data, status=status, dumps=dumps)
