"""HTTP out: the aiohttp application, its open endpoints and the API routes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool

from decoders.can_dbc import CanModels, load_can_models
from gateway.http import (
    api_energy,
    api_insights,
    api_owners,
    api_reminders,
    api_segments,
    api_service,
    api_usage,
    api_vehicles,
    status_page,
    webhooks,
)
from gateway.http.auth import INSECURE, TOKENS, ApiToken
from gateway.http.common import CAN_MODELS, DEFAULT_TZ, HEALTH, LAYOUT, METRICS, POOL, ok
from gateway.http.errors import problem_middleware
from gateway.http.openapi import docs_html, spec
from gateway.http.params import strict_query_middleware
from gateway.metrics import Metrics
from timeseries.schema import Layout

log = logging.getLogger(__name__)


async def health(request: web.Request) -> web.Response:
    """Liveness plus a little state."""
    return ok({"status": "ok", **request.app[HEALTH]()})


async def ready(request: web.Request) -> web.Response:
    """503 unless broker and database answer and commits are not stuck."""
    info = request.app[HEALTH]()
    problems = []
    if not info.get("broker_connected"):
        why = info.get("broker_last_error")
        problems.append("broker not connected" + (f" ({why})" if why else ""))
    try:
        async with request.app[POOL].connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:
        problems.append(f"database: {type(exc).__name__}")
    if info.get("stalled_s", 0) > 30:
        problems.append(f"no commit for {info['stalled_s']:.0f}s with messages in flight")
    if problems:
        body = {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                "detail": "; ".join(problems), "ready": False}
        return web.Response(status=503, text=json.dumps(body),
                            content_type="application/problem+json")
    return ok({"ready": True, **info})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(_: web.Request) -> web.Response:
    """The OpenAPI 3.1 document."""
    return ok(spec())


async def docs(_: web.Request) -> web.Response:
    """A rendered API page."""
    return web.Response(text=docs_html(), content_type="text/html")


def build_app(pool: AsyncConnectionPool, metrics_: Metrics, health_info: Callable[[], dict[str,
              Any]], layout: Layout, tokens: list[ApiToken], insecure: bool = False,
              default_tz: str = "UTC", can_models: CanModels | None = None
              ) -> web.Application:
    """The aiohttp application."""
    strict = strict_query_middleware(spec()["paths"])
    app = web.Application(middlewares=[problem_middleware, strict],
                          client_max_size=20 * 1024 * 1024)
    app[POOL] = pool
    app[METRICS] = metrics_
    app[HEALTH] = health_info
    app[LAYOUT] = layout
    app[TOKENS] = tokens
    app[INSECURE] = insecure
    app[DEFAULT_TZ] = default_tz
    app[CAN_MODELS] = can_models or load_can_models()
    for path, handler in (("/health", health), ("/ready", ready), ("/metrics", metrics),
                          ("/openapi.json", openapi), ("/docs", docs), ("/", status_page.page),
                          ("/status.json", status_page.status)):
        app.router.add_get(path, handler)
    for module in (api_vehicles, api_usage, api_service, api_reminders, api_segments,
                   api_owners, api_insights, api_energy, webhooks):
        module.routes(app)
    return app
