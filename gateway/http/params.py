"""Query-parameter parsing for the HTTP API; every error names the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.http.errors import problem


def parse_time(name: str, raw: str) -> int:
    """ISO 8601 (``2026-11-20``, ``2026-11-20T08:00:00Z``) or ms since epoch -> ms."""
    if raw.isdigit():
        return int(raw)
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise problem(400, f"parameter {name!r}: {raw!r} is not ISO 8601 or ms since epoch") \
            from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def time_range(request: web.Request, default_span_ms: int = 86_400_000) -> tuple[int, int]:
    """``from`` / ``to`` (to exclusive); defaults to the last day."""
    q = request.query
    end = parse_time("to", q["to"]) if "to" in q else int(datetime.now(UTC).timestamp() * 1000)
    start = parse_time("from", q["from"]) if "from" in q else end - default_span_ms
    if start >= end:
        raise problem(400, "parameter 'from' must be before 'to'")
    return start, end


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter within [lo, hi]."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise problem(400, f"parameter {name!r}: {raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise problem(400, f"parameter {name!r}: {value} outside {lo}..{hi}")
    return value


def only_params(request: web.Request, *allowed: str) -> None:
    """Reject query parameters the endpoint does not know (a typo must not widen a query)."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise problem(400, f"unknown parameter {unknown[0]!r}; this endpoint takes"
                           f" {', '.join(allowed) or 'no parameters'}")


def choice_param(request: web.Request, name: str, choices: tuple[str, ...],
                 default: str | None = None) -> str | None:
    """A parameter that must be one of ``choices``."""
    raw = request.query.get(name, default)
    if raw is not None and raw not in choices:
        raise problem(400, f"parameter {name!r}: {raw!r} is not one of {', '.join(choices)}")
    return raw


def date_param(request: web.Request, name: str, default: date) -> date:
    """A ``YYYY-MM-DD`` parameter."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise problem(400, f"parameter {name!r} must be a date YYYY-MM-DD") from None


def strict_query_middleware(paths: dict[str, Any]) -> Any:
    """Reject query parameters an operation of the OpenAPI ``paths`` does not declare, on
    every endpoint the document describes (the document is the one list of parameters)."""
    allowed = {(path, method.upper()): sorted(p["name"] for p in op["parameters"]
                                              if p.get("in") == "query")
               for path, ops in paths.items() for method, op in ops.items()}

    @web.middleware
    async def strict_query(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        names = allowed.get((resource.canonical if resource else "", request.method))
        if names is not None:
            only_params(request, *names)
        return await handler(request)

    return strict_query
