"""Wires the gateway together: migrate, MQTT source, pipeline, HTTP server."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from decoders.can_dbc import load_can_models
from features import dealers, profile_store, registry
from features.engine import Deriver, DeriveSettings
from features.trips import TripRules
from gateway.heap import settle_heap
from gateway.http.app import build_app
from gateway.http.auth import load_tokens
from gateway.http.webhooks import Deliverer
from gateway.metrics import Metrics
from gateway.mqtt.aiomqtt_source import AiomqttSource
from gateway.mqtt.native import NativeMqttSource
from gateway.pipeline import Pipeline
from gateway.schema import migrate
from gateway.settings import Settings, SettingsError
from timeseries.db import connect, ensure_database
from timeseries.partitions import ensure_partitions_around_now
from timeseries.policies import StoragePolicy, apply_policy, drop_expired_partitions
from timeseries.schema import Layout
from timeseries.store import PostgresStore

log = logging.getLogger(__name__)


async def run_migrations(settings: Settings) -> Layout:
    """Create the database if needed and bring the schema up to date."""
    await ensure_database(settings.db_url)
    async with await connect(settings.db_url, application="gateway-migrate") as conn:
        layout = await migrate(conn, settings.storage)  # type: ignore[arg-type]
        await apply_policy(conn, layout.timescale, storage_policy(settings))
        cur = await conn.execute("SHOW autovacuum")
        row = await cur.fetchone()
        if row and row[0] != "on":
            # measured: with no statistics on a new week's partition the derivations' cached
            # plans scan it whole, and derivations run ~10x slower
            log.warning("autovacuum is off on this PostgreSQL server: new partitions and"
                        " chunks are never analyzed and derivations slow down about tenfold;"
                        " turn autovacuum on (the default), or ANALYZE samples every few"
                        " minutes")
        return layout


def storage_policy(settings: Settings) -> StoragePolicy:
    """The chunking, compression and retention the settings ask for."""
    return StoragePolicy(settings.chunk_days, settings.compress_after_days,
                         settings.retention_days)


async def _keep_partitions_ahead(settings: Settings) -> None:
    while True:
        await asyncio.sleep(3600)
        try:
            async with await connect(settings.db_url) as conn:
                await ensure_partitions_around_now(conn)
                if settings.retention_days:
                    await drop_expired_partitions(conn, settings.retention_days)
        except Exception:
            log.exception("could not create partitions ahead; the writer creates them on demand")


async def run_import(settings: Settings, command: str, path: str) -> int:
    """Bulk import of registry entries or service records from a file."""
    text = Path(path).read_text(encoding="utf-8")  # noqa: ASYNC240 - a one-off CLI read
    kind = "text/csv" if path.endswith(".csv") else "application/x-ndjson"
    await run_migrations(settings)
    async with await connect(settings.db_url, application="gateway-import") as conn:
        if command == "import-vehicles":
            regs = registry.parse_bulk(text, kind)
            for reg in regs:
                async with conn.transaction():
                    await registry.upsert(conn, reg)
            return len(regs)
        if command == "import-dealers":
            found = [dealers.parse(row) for row in registry.parse_rows(text, kind)]
            async with conn.transaction():
                for d in found:
                    await dealers.upsert(conn, d)
            return len(found)
        entries = registry.parse_service_bulk(text, kind)
        for e in entries:
            async with conn.transaction():
                vid = await registry.upsert_seen(conn, e.vin)
                await registry.add_service_record(conn, vid, e.done_on, e.odometer_km, e.items,
                                                  e.dealer_id, e.note, e.engine_hours)
        return len(entries)


def derive_settings(s: Settings) -> DeriveSettings:
    """The derivation rules from the gateway settings."""
    return DeriveSettings(
        trips=TripRules(parking_s=s.parking_minutes * 60, gap_s=s.gap_minutes * 60,
                        min_km=s.min_trip_m / 1000, min_s=s.min_trip_s),
        default_timezone=s.default_timezone, settle_s=s.settle_minutes * 60,
        visit_minutes=s.visit_minutes, silent_hours=s.silent_hours,
        min_gap_s=s.derive_min_gap_s)


async def _on_own_connection(settings: Settings, metrics: Metrics, application: str,
                             what: str, work: Callable[[psycopg.AsyncConnection],
                                                       Awaitable[None]]) -> None:
    """Run ``work`` forever on a connection of its own; when the database goes away it is
    counted, logged as ``what`` paused, and started again on a new connection in 5 s."""
    while True:
        try:
            async with await connect(settings.db_url, application=application) as conn:
                await work(conn)
        except (psycopg.Error, OSError) as exc:
            metrics.db_errors.labels("transient").inc()
            log.warning("%s paused: %s", what, exc)
            await asyncio.sleep(5)


async def _refresh_forever(settings: Settings, metrics: Metrics) -> None:
    """Served profiles and stored periods, and the days of silent vehicles, every
    ``profile_refresh_s`` on a connection of their own: at the date change the refresh of
    every vehicle takes minutes at fleet scale (468 s for 1,000,000 cars, measured), and
    the derivations must not wait for it."""
    rules = derive_settings(settings)

    async def refresh(conn: psycopg.AsyncConnection) -> None:
        deriver = Deriver(conn, rules)  # only settles silent vehicles' days
        while True:
            n = await profile_store.refresh_due(conn, datetime.now(UTC).date())
            metrics.profiles_refreshed.inc(n)
            emitted = deriver.events_emitted
            await deriver.settle_by_clock(datetime.now(UTC))
            metrics.feed_events.inc(deriver.events_emitted - emitted)
            await asyncio.sleep(settings.profile_refresh_s)
    await _on_own_connection(settings, metrics, "gateway-refresh", "profile refresh", refresh)


async def _derive_forever(settings: Settings, metrics: Metrics, shard: tuple[int, int]
                          ) -> None:
    """One deriver on a connection of its own, taking the vehicles of ``shard`` (k, n): the
    ``derive_connections`` derivers of a process use n database backends at once, and the
    database's work of one overlaps this process's work of another."""
    rules = derive_settings(settings)
    k, n = shard

    async def derive(conn: psycopg.AsyncConnection) -> None:
        deriver = Deriver(conn, rules, shard=shard)
        while True:
            started = time.perf_counter()
            emitted, errors = deriver.events_emitted, deriver.errors
            done = await deriver.run_pending(200)
            metrics.derivation_errors.inc(deriver.errors - errors)
            metrics.derived.inc(done)
            metrics.feed_events.inc(deriver.events_emitted - emitted)
            if k == 0:  # every vehicle waiting, whichever deriver takes it
                cur = await conn.execute("SELECT count(DISTINCT vehicle_id) FROM dirty_hours")
                row = await cur.fetchone()
                metrics.derive_pending.set(row[0] if row else 0)
            if done:
                metrics.derive_seconds.observe(time.perf_counter() - started)
            else:
                await asyncio.sleep(settings.derive_interval_s)
    await _on_own_connection(settings, metrics, f"gateway-derive-{k + 1}-of-{n}",
                             "derivations", derive)


async def run_gateway(settings: Settings) -> None:
    """Run until cancelled."""
    layout = await run_migrations(settings)
    log.info("storage layout: %s", layout.name)
    metrics = Metrics()
    can_models = load_can_models(settings.can_models)  # checked by the settings: cached
    for name, model in {"(default)": can_models.default, **can_models.by_model}.items():
        if model.relaxed:
            log.warning("CAN model %s: %s needed relaxing to load: %s", name, model.dbc_name,
                        "; ".join(model.relaxed))
    pipeline = Pipeline(settings, metrics, lambda n: PostgresStore(
        settings.db_url, layout, f"gateway-writer-{n}"), can_models)
    source_type = NativeMqttSource if settings.mqtt_client == "native" else AiomqttSource
    source = source_type(settings, metrics, pipeline.submit)
    started = time.time()

    def health_info() -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        since = max(pipeline.last_commit_ms, int(started * 1000))
        return {"broker_connected": source.connected.is_set(), "mqtt_protocol": source.protocol,
                "broker_last_error": source.last_error,
                "mqtt_session_lost": source.session_lost,
                "mqtt_session_lost_at_ms": int(source.session_lost_at * 1000),
                "in_flight": pipeline.pending,
                "in_flight_bytes": source.held_bytes,
                "uptime_s": round(time.time() - started, 1), "storage": layout.name,
                "last_commit_ms": pipeline.last_commit_ms,
                "stalled_s": (now_ms - since) / 1000 if pipeline.pending else 0}

    tokens = load_tokens(settings.api_tokens, settings.api_tokens_file)
    if not tokens and not settings.insecure_no_auth:
        raise SettingsError("TELEMATICS_API_TOKENS (or TELEMATICS_API_TOKENS_FILE): no API"
                            " tokens configured; set some, or start with --insecure-no-auth")
    if settings.insecure_no_auth:
        log.warning("INSECURE: the HTTP API is served WITHOUT authentication"
                    " (--insecure-no-auth); never do this outside a demo")

    # jit off: compiling the fleet-wide profile statement took longer than running it
    pool = AsyncConnectionPool(settings.db_url, min_size=1, max_size=4, open=False,
                               kwargs={"autocommit": True, "application_name": "gateway-http",
                                       "options": "-c jit=off"})
    await pool.open()
    runner = web.AppRunner(build_app(pool, metrics, health_info, layout, tokens,
                                     settings.insecure_no_auth, settings.default_timezone,
                                     can_models))
    await runner.setup()
    host, port = settings.http_host_port
    await web.TCPSite(runner, host, port).start()
    log.info("http on %s:%d", host, port)
    settle_heap()
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(source.run())
            tg.create_task(pipeline.run())
            if settings.derive:
                n = settings.derive_connections
                for k in range(n):
                    tg.create_task(_derive_forever(settings, metrics, (k, n)))
                tg.create_task(_refresh_forever(settings, metrics))
            tg.create_task(Deliverer(settings.db_url, metrics).run())
            if not layout.timescale:
                tg.create_task(_keep_partitions_ahead(settings))
    finally:
        await runner.cleanup()
        await pool.close()
