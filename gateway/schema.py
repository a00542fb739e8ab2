"""Every schema version in order: each package contributes the DDL of its own tables."""

from __future__ import annotations

import psycopg

from features.schema import (
    derived_ddl,
    engagement_ddl,
    feature_usage_ddl,
    lifetime_ddl,
    owners_ddl,
    service_loop_ddl,
    serving_ddl,
    sessions_ddl,
    software_history_ddl,
    usage_windows_ddl,
    vehicle_dtcs_ddl,
    version_windows_ddl,
    version_windows_wide_ddl,
    visits_ddl,
)
from gateway.http.schema import webhook_dealer_ddl, webhooks_ddl
from timeseries.journal import batches_ddl as journal_batches_ddl
from timeseries.journal import ddl as journal_ddl
from timeseries.schema import (
    Layout,
    Migration,
    apply,
    base_migration,
    dead_letter_retry_ddl,
    dtc_ddl,
    registry_ddl,
    software_ddl,
    time_index_ddl,
    vehicles_hot_ddl,
)
from timeseries.storage_choice import Storage

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "base tables", (base_migration,)),
    Migration(2, "registry and derived tables", (registry_ddl, derived_ddl)),
    Migration(3, "api: webhooks, dead-letter retries", (dead_letter_retry_ddl, webhooks_ddl)),
    Migration(4, "profile snapshots; HOT updates of vehicles", (serving_ddl, vehicles_hot_ddl)),
    Migration(5, "in-flight journal (poison messages)", (journal_ddl,)),
    Migration(6, "service loop: dealers, reminders, day-end odometers", (service_loop_ddl,
                                                                     webhook_dealer_ddl)),
    Migration(7, "TimescaleDB: reads by vehicle use the (vehicle, time) key", (time_index_ddl,)),
    Migration(8, "dealer visits: trip end positions, geofences, opening hours", (visits_ddl,)),
    Migration(9, "diagnostic trouble codes: reports and per-vehicle codes", (dtc_ddl,
                                                                          vehicle_dtcs_ddl)),
    Migration(10, "lifetime maturity: first use of each cockpit domain", (lifetime_ddl,)),
    Migration(11, "owners: types, merges, ownership periods", (owners_ddl,)),
    Migration(12, "owner engagement events; feed reads by vehicle", (engagement_ddl,)),
    Migration(13, "cockpit feature use per vehicle and day", (feature_usage_ddl,)),
    Migration(14, "charging sessions and refuels; the owner's home", (sessions_ddl,)),
    Migration(15, "software versions: reports and per-vehicle history", (software_ddl,
                                                                         software_history_ddl)),
    Migration(16, "feature insights: per-vehicle usage over the standard periods",
              (usage_windows_ddl,)),
    Migration(17, "feature insights by software version over the standard periods",
              (version_windows_ddl,)),
    Migration(18, "in-flight journal: one row per batch", (journal_batches_ddl,)),
    Migration(19, "feature insights by software version: the periods side by side",
              (version_windows_wide_ddl,)),
)


async def migrate(conn: psycopg.AsyncConnection, storage: Storage = "auto") -> Layout:
    """Create or upgrade the whole schema; idempotent and safe from several replicas.
    ``storage``: the layout a new schema gets (``timeseries.storage_choice``)."""
    return await apply(conn, MIGRATIONS, storage)
