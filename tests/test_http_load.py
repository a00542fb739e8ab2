"""HTTP under pressure: many concurrent connections, a slow client, an oversized body."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from localservices import Broker, Gateway

pytestmark = pytest.mark.live
TOKEN = "reader-token-123"


async def test_concurrent_and_slow_clients(broker: Broker, db_url: str, tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, api_tokens=f"cdp:{TOKEN}:read+write")
    await asyncio.to_thread(gw.start)
    host, port = "127.0.0.1", gw.port
    # a slow client: opens a connection and dribbles a request header, never finishing it
    slow = socket.create_connection((host, port))
    slow.sendall(b"GET /v1/vehicles HTTP/1.1\r\nHost: x\r\n")
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        connector = aiohttp.TCPConnector(limit=300)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
            async def one(i: int) -> int:
                async with http.get(f"{gw.base}/v1/vehicles?limit=5") as resp:
                    await resp.read()
                    return resp.status

            started = time.monotonic()
            statuses = await asyncio.gather(*(one(i) for i in range(300)))
            elapsed = time.monotonic() - started
            assert statuses == [200] * 300
            assert elapsed < 30
            big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
            async with http.put(f"{gw.base}/v1/vehicles/WVWZZZ1JZXW000051", data=big,
                                headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 413
                assert resp.headers["Content-Type"].startswith("application/problem+json")
            slow.sendall(b"X-Slow: 1\r\n")  # still connected, still not blocking anyone
            async with http.get(f"{gw.base}/health") as resp:
                assert resp.status == 200
    finally:
        slow.close()
        await asyncio.to_thread(gw.stop)
