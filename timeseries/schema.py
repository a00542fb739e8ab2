"""The time-series tables and the migration runner. TimescaleDB hypertables when the
extension is available, plain PostgreSQL declarative partitioning (weekly ranges created
ahead of the data) otherwise.

This module owns the DDL of the tables the writer fills (vehicles, samples, cockpit events,
the ingest log, dead letters, dirty hours); ``features.schema`` and ``gateway.http.schema``
own theirs, and ``gateway.schema`` lists every version in order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from decoders.catalog import load_catalog
from timeseries.partitions import (
    CREATE_WEEK_FUNCTION,
    PARTITIONED,
    ensure_partitions_around_now,
)
from timeseries.storage_choice import Storage, StorageUnavailable, choose

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
            "chunk_time_interval => interval '7 days', if_not_exists => true,"
            " create_default_indexes => false)"
        )
    out += [
        "ALTER TABLE samples SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'vehicle_id', timescaledb.compress_orderby = 'ts')",
        "SELECT add_compression_policy('samples', interval '30 days', if_not_exists => true)",
    ]
    return out


def dtc_ddl(layout: Layout) -> list[str]:
    """The trouble-code reports (``Vehicle.OBD.DTCList``): one row per reporting instant,
    the codes active then (empty: none). Few rows per vehicle, so a plain table."""
    return ["""CREATE TABLE IF NOT EXISTS dtc_reports (
        vehicle_id int NOT NULL, ts timestamptz NOT NULL, codes text[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (vehicle_id, ts))"""]


def software_ddl(layout: Layout) -> list[str]:
    """The software-version reports: one row per reporting instant and component (``head_unit``
    or ``vehicle``). A few rows per vehicle and day, so a plain table."""
    return ["""CREATE TABLE IF NOT EXISTS software_reports (
        vehicle_id int NOT NULL, component text NOT NULL, ts timestamptz NOT NULL,
        version text NOT NULL, PRIMARY KEY (vehicle_id, component, ts))"""]


def time_index_ddl(layout: Layout) -> list[str]:
    """No time-only indexes on hypertables. Every read goes by vehicle and time, and with a
    (time) index beside the (vehicle, time) key the planner scanned a whole day of the fleet
    for one vehicle's day (ordered chunk append), ten times slower than the key
    (benchmarks/storage.py). Hypertables made since are created without them."""
    if not layout.timescale:
        return []
    return [f"DROP INDEX IF EXISTS {table}_{key}_idx" for table, key in PARTITIONED.items()]


def registry_ddl(layout: Layout) -> list[str]:
    """The registry columns of vehicles (decoding needs the model) and the queue of hours
    the writer marks for derivations to look at again."""
    return [
        """ALTER TABLE vehicles
            ADD COLUMN IF NOT EXISTS registered boolean NOT NULL DEFAULT false,
            ADD COLUMN IF NOT EXISTS model text,
            ADD COLUMN IF NOT EXISTS powertrain text,
            ADD COLUMN IF NOT EXISTS timezone text,
            ADD COLUMN IF NOT EXISTS delivered_on date,
            ADD COLUMN IF NOT EXISTS owner_id text,
            ADD COLUMN IF NOT EXISTS dealer_id text,
            ADD COLUMN IF NOT EXISTS registry_updated_at timestamptz""",
        # hours (ms // 3,600,000) with new data that derivations have not looked at yet
        """CREATE TABLE IF NOT EXISTS dirty_hours (
            vehicle_id int NOT NULL, hour bigint NOT NULL,
            touched_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (vehicle_id, hour))""",
        "CREATE INDEX IF NOT EXISTS vehicles_dealer ON vehicles (dealer_id, id)",
    ]


def dead_letter_retry_ddl(layout: Layout) -> list[str]:
    """What a retry of a dead letter concluded."""
    return [
        """ALTER TABLE dead_letters
            ADD COLUMN IF NOT EXISTS retried_at timestamptz,
            ADD COLUMN IF NOT EXISTS retry_outcome text,
            ADD COLUMN IF NOT EXISTS retry_detail text""",
    ]


def vehicles_hot_ddl(layout: Layout) -> list[str]:
    """Every batch updates its vehicles' latest state: room on the page keeps those updates
    HOT (no index entries written)."""
    return ["ALTER TABLE vehicles SET (fillfactor = 70)"]


DDL = Callable[[Layout], list[str]]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: its number, its name, and the DDL of each package it touches
    (each package owns the DDL of its own tables)."""

    version: int
    name: str
    parts: tuple[DDL, ...]

    def statements(self, layout: Layout) -> list[str]:
        """Every statement of this version, in order."""
        return [stmt for part in self.parts for stmt in part(layout)]


def base_migration(layout: Layout) -> list[str]:
    """Version 1: the time-series tables and their partitioning."""
    return _base_ddl(layout.timescale) + (_timescale_ddl() if layout.timescale
                                          else [CREATE_WEEK_FUNCTION])


async def detect_layout(conn: psycopg.AsyncConnection, storage: Storage = "auto") -> Layout:
    """The layout of an existing schema (``storage`` must not contradict it), or the one a
    new schema gets (``storage_choice``)."""
    cur = await conn.execute(
        "SELECT value FROM storage_meta WHERE key = 'layout'"
        if await _has_table(conn, "storage_meta")
        else "SELECT NULL WHERE false"
    )
    row = await cur.fetchone()
    if row is not None:
        layout = Layout(timescale=row[0] == "timescaledb")
        if storage != "auto" and storage != layout.name:
            raise StorageUnavailable(
                f"TELEMATICS_STORAGE (--storage) is {storage}, but this database already"
                f" holds the {layout.name} layout (moving data between layouts is a dump"
                " and restore)")
        return layout
    return Layout(timescale=await choose(conn, storage))


async def _has_table(conn: psycopg.AsyncConnection, name: str) -> bool:
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def _up_to_date(conn: psycopg.AsyncConnection, migrations: Sequence[Migration]) -> bool:
    """Nothing to do: every migration applied and every catalog column present. Checked
    without DDL, so a gateway role with data rights only can start."""
    if not await _has_table(conn, "schema_migrations"):
        return False
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    if not row or row[0] < migrations[-1].version:
        return False
    cur = await conn.execute("SELECT column_name FROM information_schema.columns"
                             " WHERE table_name = 'samples'")
    present = {r[0] for r in await cur.fetchall()}
    if not set(load_catalog().columns) <= present:
        return False
    cur = await conn.execute(
        "SELECT to_regprocedure('telematics_create_week(bigint)') IS NOT NULL"
        " OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    row = await cur.fetchone()
    return bool(row and row[0])


async def apply(conn: psycopg.AsyncConnection, migrations: Sequence[Migration],
                storage: Storage = "auto") -> Layout:
    """Create or upgrade the schema to the last of ``migrations`` (ordered by version);
    idempotent and safe to run from several replicas."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        layout = await detect_layout(conn, storage)
        if await _up_to_date(conn, migrations):
            if not layout.timescale:
                await ensure_partitions_around_now(conn)
            return layout
        async with conn.transaction():
            if layout.timescale:
                try:
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                except psycopg.Error as exc:
                    raise StorageUnavailable(
                        f"CREATE EXTENSION timescaledb failed: {exc}; add timescaledb to"
                        " shared_preload_libraries, or set TELEMATICS_STORAGE=partitioned"
                    ) from exc
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS storage_meta (key text PRIMARY KEY, value text)"
            )
            await conn.execute(
                "INSERT INTO storage_meta (key, value) VALUES ('layout', %s)"
                " ON CONFLICT DO NOTHING",
                (layout.name,),
            )
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                    version int PRIMARY KEY, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {r[0] for r in await cur.fetchall()}
            for m in migrations:
                if m.version in done:
                    continue
                for stmt in m.statements(layout):
                    await conn.execute(stmt.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (m.version, m.name))
                log.info("applied migration %s (%s) on %s", m.version, m.name, layout.name)
            await _sync_signal_columns(conn)
            if not layout.timescale:
                await conn.execute(CREATE_WEEK_FUNCTION.encode())  # CREATE OR REPLACE
        if not layout.timescale:
            await ensure_partitions_around_now(conn)
        return layout
    finally:
        if not conn.closed:  # a failed CREATE EXTENSION may have ended the connection
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def _sync_signal_columns(conn: psycopg.AsyncConnection) -> None:
    """One double-precision column per catalog signal; new catalog signals add columns."""
    for column in load_catalog().columns:
        await conn.execute(
            sql.SQL("ALTER TABLE samples ADD COLUMN IF NOT EXISTS {} double precision").format(
                sql.Identifier(column)
            )
        )
