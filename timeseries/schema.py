"""Schema and migrations. TimescaleDB hypertables when the extension is available, plain
PostgreSQL declarative partitioning (weekly ranges created ahead of the data) otherwise."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from decoders.catalog import load_catalog
from timeseries.partitions import PARTITIONED, ensure_partitions_around_now

log = logging.getLogger(__name__)
MIGRATION_LOCK = 7_347_001  # pg_advisory_lock key: one migrator at a time across replicas


@dataclass(frozen=True, slots=True)
class Layout:
    """How the time-series tables are stored in this database."""

    timescale: bool

    @property
    def name(self) -> str:
        """``timescaledb`` or ``partitioned``."""
        return "timescaledb" if self.timescale else "partitioned"


def _base_ddl(timescale: bool) -> list[str]:
    part = "" if timescale else " PARTITION BY RANGE ({key})"
    return [
        """CREATE TABLE IF NOT EXISTS vehicles (
            id serial PRIMARY KEY,
            vin text NOT NULL UNIQUE,
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz NOT NULL DEFAULT now(),
            last_sample_at timestamptz,
            odometer_km double precision,
            odometer_at timestamptz)""",
        """CREATE TABLE IF NOT EXISTS samples (
            vehicle_id int NOT NULL,
            ts timestamptz NOT NULL,
            flags smallint NOT NULL DEFAULT 0,
            PRIMARY KEY (vehicle_id, ts))""" + part.format(key="ts"),
        """CREATE TABLE IF NOT EXISTS cockpit_events (
            vehicle_id int NOT NULL,
            ts timestamptz NOT NULL,
            type text NOT NULL,
            known boolean NOT NULL,
            attrs jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (vehicle_id, ts, type))""" + part.format(key="ts"),
        """CREATE TABLE IF NOT EXISTS ingest_log (
            vehicle_id int NOT NULL,
            seq bigint NOT NULL,
            t0 timestamptz NOT NULL,
            topic text NOT NULL,
            decoder text NOT NULL,
            rows int NOT NULL,
            sample_values int NOT NULL,
            events int NOT NULL,
            received_at timestamptz NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (vehicle_id, t0, seq))""" + part.format(key="t0"),
        """CREATE TABLE IF NOT EXISTS dead_letters (
            id bigserial PRIMARY KEY,
            digest bytea NOT NULL UNIQUE,
            topic text NOT NULL,
            vin text,
            decoder text NOT NULL,
            reason_code text NOT NULL,
            reason text NOT NULL,
            details jsonb NOT NULL DEFAULT '[]',
            partial boolean NOT NULL,
            payload bytea NOT NULL,
            size int NOT NULL,
            times int NOT NULL DEFAULT 1,
            received_at timestamptz NOT NULL,
            last_received_at timestamptz NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason_code, id)",
    ]


def _timescale_ddl() -> list[str]:
    out: list[str] = []
    for table, key in PARTITIONED.items():
        out.append(
            f"SELECT create_hypertable('{table}', '{key}', "
            "chunk_time_interval => interval '7 days', if_not_exists => true)"
        )
    out += [
        "ALTER TABLE samples SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'vehicle_id', timescaledb.compress_orderby = 'ts')",
        "SELECT add_compression_policy('samples', interval '30 days', if_not_exists => true)",
    ]
    return out


MIGRATIONS: list[tuple[int, str]] = [(1, "base tables")]


async def detect_layout(conn: psycopg.AsyncConnection) -> Layout:
    """The layout of an existing schema, or the one a new schema would get."""
    cur = await conn.execute(
        "SELECT value FROM storage_meta WHERE key = 'layout'"
        if await _has_table(conn, "storage_meta")
        else "SELECT NULL WHERE false"
    )
    row = await cur.fetchone()
    if row is not None:
        return Layout(timescale=row[0] == "timescaledb")
    cur = await conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    return Layout(timescale=await cur.fetchone() is not None)


async def _has_table(conn: psycopg.AsyncConnection, name: str) -> bool:
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def migrate(conn: psycopg.AsyncConnection) -> Layout:
    """Create or upgrade the schema; idempotent and safe to run from several replicas."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        layout = await detect_layout(conn)
        async with conn.transaction():
            if layout.timescale:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS storage_meta (key text PRIMARY KEY, value text)"
            )
            await conn.execute(
                "INSERT INTO storage_meta VALUES ('layout', %s) ON CONFLICT DO NOTHING",
                (layout.name,),
            )
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                    version int PRIMARY KEY, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {r[0] for r in await cur.fetchall()}
            for version, name in MIGRATIONS:
                if version in done:
                    continue
                for stmt in _migration(version, layout):
                    await conn.execute(stmt.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                )
                log.info("applied migration %s (%s) on %s", version, name, layout.name)
            await _sync_signal_columns(conn)
        if not layout.timescale:
            await ensure_partitions_around_now(conn)
        return layout
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _migration(version: int, layout: Layout) -> list[str]:
    if version == 1:
        return _base_ddl(layout.timescale) + (_timescale_ddl() if layout.timescale else [])
    raise ValueError(f"unknown migration {version}")


async def _sync_signal_columns(conn: psycopg.AsyncConnection) -> None:
    """One double-precision column per catalog signal; new catalog signals add columns."""
    for column in load_catalog().columns:
        await conn.execute(
            sql.SQL("ALTER TABLE samples ADD COLUMN IF NOT EXISTS {} double precision").format(
                sql.Identifier(column)
            )
        )
