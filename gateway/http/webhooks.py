"""Webhooks: registration, and at-least-once signed delivery that survives restarts.

Each webhook keeps a cursor (the last feed id it acknowledged) in the database. The worker
posts events after the cursor in order; a 2xx moves the cursor, anything else is logged and
retried with exponential backoff (1 s doubling to 5 min). A crash between a delivery and
the cursor update re-sends that event: receivers dedup by ``X-Telematics-Event-Id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psycopg
from aiohttp import web

from features import queries, reminder_lifecycle
from features.feed import FEED_TYPES
from gateway.http.auth import requires
from gateway.http.common import POOL, json_body, ok
from gateway.http.errors import problem
from gateway.metrics import Metrics

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Telematics-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``"""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute and compare in constant time, reject stale stamps."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), f"t={ts},v1={parts.get('v1', '')}")


def _public(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": row[0], "url": row[1], "event_types": row[2], "cursor": str(row[3]),
            "created_at": row[4].isoformat(), "dealer_id": row[5]}


@requires("admin")
async def create(request: web.Request) -> web.Response:
    """Register a webhook for new events of the given types (of one dealer's vehicles
    when ``dealer_id`` is given)."""
    body = await json_body(request)
    dealer_id = body.get("dealer_id")
    if dealer_id is not None and (not isinstance(dealer_id, str) or not dealer_id):
        raise problem(400, "field 'dealer_id' must be a non-empty string")
    url, secret, types = body.get("url"), body.get("secret"), body.get("event_types")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") \
            or not urlsplit(url).netloc:
        raise problem(400, "field 'url' must be an http(s) URL")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise problem(400, "field 'secret' must be a string of 16..200 characters")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types) \
            or not set(types) <= set(FEED_TYPES):
        raise problem(400, f"field 'event_types' must list some of {', '.join(FEED_TYPES)}")
    async with request.app[POOL].connection() as conn:
        cur = await conn.execute(
            "INSERT INTO webhooks (url, secret, event_types, dealer_id, cursor) VALUES (%s, %s,"
            " %s, %s, (SELECT coalesce(max(id), 0) FROM feed_events))"
            " RETURNING id, url, event_types, cursor, created_at, dealer_id",
            (url, secret, types, dealer_id))
        row = await cur.fetchone()
    assert row is not None
    return ok(_public(row), status=201)


@requires("admin")
async def list_hooks(request: web.Request) -> web.Response:
    """Webhooks (never their secrets) with their last deliveries."""
    async with request.app[POOL].connection() as conn:
        cur = await conn.execute(
            "SELECT id, url, event_types, cursor, created_at, dealer_id FROM webhooks"
            " ORDER BY id")
        hooks = [_public(r) for r in await cur.fetchall()]
        for hook in hooks:
            cur = await conn.execute(
                "SELECT event_id, attempt, status, error, ok, at FROM webhook_deliveries"
                " WHERE webhook_id = %s ORDER BY id DESC LIMIT 20", (hook["id"],))
            hook["deliveries"] = [
                {"event_id": str(e), "attempt": a, "status": s, "error": err, "ok": good,
                 "at": at.isoformat()} for e, a, s, err, good, at in await cur.fetchall()]
    return ok({"items": hooks})


@requires("admin")
async def delete(request: web.Request) -> web.Response:
    """Remove a webhook and its delivery log."""
    async with request.app[POOL].connection() as conn:
        cur = await conn.execute("DELETE FROM webhooks WHERE id = %s",
                                 (int(request.match_info["id"]),))
    if cur.rowcount == 0:
        raise problem(404, f"webhook {request.match_info['id']} does not exist")
    return web.Response(status=204)


def routes(app: web.Application) -> None:
    """Attach the handlers."""
    app.router.add_post("/v1/webhooks", create)
    app.router.add_get("/v1/webhooks", list_hooks)
    app.router.add_delete(r"/v1/webhooks/{id:\d+}", delete)


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    next_at: float = 0.0


class Deliverer:
    """Delivers the feed to every webhook, forever."""

    def __init__(self, db_url: str, metrics: Metrics, poll_s: float = 1.0) -> None:
        self.db_url = db_url
        self.metrics = metrics
        self.poll_s = poll_s
        self.backoff: dict[int, _Backoff] = {}

    async def run(self) -> None:
        """Poll, deliver, repeat; database errors pause it, never stop it."""
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                try:
                    async with await psycopg.AsyncConnection.connect(
                            self.db_url, autocommit=True) as conn:
                        while True:
                            await self._tick(conn, http)
                            await asyncio.sleep(self.poll_s)
                except (psycopg.Error, OSError) as exc:
                    log.warning("webhook delivery paused: %s", exc)
                    await asyncio.sleep(5)

    async def _tick(self, conn: psycopg.AsyncConnection, http: aiohttp.ClientSession) -> None:
        cur = await conn.execute(
            "SELECT id, url, secret, event_types, cursor, dealer_id FROM webhooks")
        for hook_id, url, secret, types, cursor, dealer_id in await cur.fetchall():
            state = self.backoff.setdefault(hook_id, _Backoff())
            if time.monotonic() < state.next_at:
                continue
            for event in await queries.feed(conn, cursor, types, 100, dealer_id):
                if not await self._deliver(conn, http, hook_id, url, secret, event, state):
                    break
                rid = event["data"].get("reminder_id")
                if rid is not None and event["type"].startswith("service_"):
                    async with conn.transaction():
                        await reminder_lifecycle.transition(conn, int(rid), "notified")
                await conn.execute("UPDATE webhooks SET cursor = %s WHERE id = %s",
                                   (int(event["id"]), hook_id))

    async def _deliver(self, conn: psycopg.AsyncConnection, http: aiohttp.ClientSession,
                       hook_id: int, url: str, secret: str, event: dict[str, Any],
                       state: _Backoff) -> bool:
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "X-Telematics-Event-Id": event["id"],
                   "X-Telematics-Event-Type": event["type"],
                   SIGNATURE_HEADER: sign(secret, int(time.time()), body)}
        status: int | None = None
        error = None
        try:
            async with http.post(url, data=body, headers=headers) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        good = status is not None and 200 <= status < 300
        await conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, attempt, status, error, ok)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (hook_id, int(event["id"]), state.failures + 1, status, error, good))
        if good:
            state.failures, state.next_at = 0, 0.0
            self.metrics.webhook_deliveries.labels("ok").inc()
            return True
        state.failures += 1
        state.next_at = time.monotonic() + min(300.0, 2.0 ** (state.failures - 1))
        self.metrics.webhook_deliveries.labels("failed").inc()
        return False
