"""JSON errors (RFC 9457 problem+json) for every HTTP failure."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}


def problem(status: int, detail: str) -> web.HTTPException:
    """An HTTP exception whose body is problem+json."""
    body = json.dumps({"type": "about:blank", "title": _TITLES.get(status, "Error"),
                       "status": status, "detail": detail})
    exc = web.HTTPException(text=body, content_type="application/problem+json")
    exc.set_status(status)
    return exc


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own errors and crashes into problem+json."""
    for name, value in request.query.items():
        if "\x00" in name or "\x00" in value:
            raise problem(400, f"parameter {name[:40]!r} contains a NUL character")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/problem+json" or exc.status < 400:
            raise
        raise problem(exc.status, exc.reason or "error") from None
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise problem(500, "internal error; see the gateway log") from None
