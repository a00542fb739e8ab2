"""Wires the gateway together: migrate, MQTT source, pipeline, HTTP server."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from gateway.http_app import build_app
from gateway.metrics import Metrics
from gateway.mqtt_source import MqttSource
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from timeseries.db import connect, ensure_database
from timeseries.partitions import ensure_partitions_around_now
from timeseries.schema import Layout, migrate

log = logging.getLogger(__name__)


async def run_migrations(settings: Settings) -> Layout:
    """Create the database if needed and bring the schema up to date."""
    await ensure_database(settings.db_url)
    async with await connect(settings.db_url, application="gateway-migrate") as conn:
        return await migrate(conn)


async def _keep_partitions_ahead(settings: Settings) -> None:
    while True:
        await asyncio.sleep(3600)
        try:
            async with await connect(settings.db_url) as conn:
                await ensure_partitions_around_now(conn)
        except Exception:
            log.exception("could not create partitions ahead; the writer creates them on demand")


async def run_gateway(settings: Settings) -> None:
    """Run until cancelled."""
    layout = await run_migrations(settings)
    log.info("storage layout: %s", layout.name)
    metrics = Metrics()
    pipeline = Pipeline(settings, metrics, layout)
    source = MqttSource(settings, metrics, pipeline.submit)
    started = time.time()

    def health_info() -> dict[str, Any]:
        return {"broker_connected": source.connected.is_set(), "in_flight": pipeline.pending,
                "uptime_s": round(time.time() - started, 1), "storage": layout.name,
                "last_commit_ms": pipeline.last_commit_ms}

    pool = AsyncConnectionPool(settings.db_url, min_size=1, max_size=4, open=False,
                               kwargs={"autocommit": True, "application_name": "gateway-http"})
    await pool.open()
    runner = web.AppRunner(build_app(pool, metrics, health_info))
    await runner.setup()
    host, port = settings.http_host_port
    await web.TCPSite(runner, host, port).start()
    log.info("http on %s:%d", host, port)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(source.run())
            tg.create_task(pipeline.run())
            if not layout.timescale:
                tg.create_task(_keep_partitions_ahead(settings))
    finally:
        await runner.cleanup()
        await pool.close()
