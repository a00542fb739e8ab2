"""Webhooks: signed, at-least-once, in order, and nothing lost across a gateway SIGKILL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from features.feed import FeedType, emit
from gateway.http.webhooks import SIGNATURE_HEADER, verify
from localservices import Broker, Gateway, free_port
from timeseries.db import connect

pytestmark = pytest.mark.live
ADMIN = "admin-token-789"
SECRET = "whsec-0123456789abcdef"


async def test_every_event_arrives_signed_across_a_restart(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    received: list[str] = []
    bad_signatures = 0
    fail_first = {"n": 3}

    async def receive(request: web.Request) -> web.Response:
        nonlocal bad_signatures
        body = await request.read()
        if not verify(SECRET, request.headers[SIGNATURE_HEADER], body):
            bad_signatures += 1
            return web.Response(status=400)
        if fail_first["n"] > 0:  # the receiver is down for a moment: retries must follow
            fail_first["n"] -= 1
            return web.Response(status=503)
        await asyncio.sleep(0.1)
        event = json.loads(body)
        assert event["id"] == request.headers["X-Telematics-Event-Id"]
        received.append(event["id"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    gw = Gateway(broker.url, db_url, tmp_path, api_tokens=f"ops:{ADMIN}:admin")
    await asyncio.to_thread(gw.start)
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as http:
            async with http.post(f"{gw.base}/v1/webhooks", json={
                    "url": f"http://127.0.0.1:{port}/hook", "secret": SECRET,
                    "event_types": ["service_due_soon", "segment_changed"]}) as resp:
                assert resp.status == 201
                assert "secret" not in await resp.json()
            conn = await connect(db_url)
            cur = await conn.execute("INSERT INTO vehicles (vin) VALUES ('WVWZZZ1JZXW000009')"
                                     " RETURNING id")
            row = await cur.fetchone()
            assert row is not None
            ids = []
            for i in range(30):
                async with conn.transaction():
                    kind: FeedType = "segment_changed" if i % 2 else "service_due_soon"
                    await emit(conn, f"test:{i}", kind, row[0], datetime.now(UTC), {"i": i})
                    cur = await conn.execute("SELECT max(id) FROM feed_events")
                    ids.append(str((await cur.fetchone() or [0])[0]))
            async with conn.transaction():  # not subscribed: never delivered
                await emit(conn, "test:other", "service_overdue", row[0], datetime.now(UTC), {})
            for _ in range(200):
                if len(received) >= 8:
                    break
                await asyncio.sleep(0.1)
            assert 0 < len(received) < 30, "kill must happen in the middle of deliveries"
            await asyncio.to_thread(gw.kill)
            await asyncio.to_thread(gw.start)
            for _ in range(300):
                if set(received) >= set(ids):
                    break
                await asyncio.sleep(0.1)
            assert sorted(set(received), key=int) == ids  # every event, after dedup
            assert received == sorted(received, key=int)  # in order (a resend repeats the last)
            assert len(received) - len(set(received)) <= 1
            assert bad_signatures == 0
            # the cursor moves after the receiver's answer, so it may trail the last receipt
            for _ in range(100):
                async with http.get(f"{gw.base}/v1/webhooks") as resp:
                    hook = (await resp.json())["items"][0]
                if hook["cursor"] == ids[-1]:
                    break
                await asyncio.sleep(0.1)
            assert hook["cursor"] == ids[-1]
            await conn.close()
    finally:
        await asyncio.to_thread(gw.stop)
        await runner.cleanup()
