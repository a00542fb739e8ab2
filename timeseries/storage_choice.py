"""Which layout a new schema gets: TimescaleDB only where it can really be used.

"Listed in ``pg_available_extensions``" is not "usable": an installed extension that the
server has not preloaded (``shared_preload_libraries``) fails on ``CREATE EXTENSION``, in
some versions by ending the connection. So ``auto`` takes TimescaleDB only when it is
already created in the database or preloaded by the server, and the partitioned layout
otherwise, saying why once; ``timescaledb`` insists, and the migration fails with the
reason when ``CREATE EXTENSION`` does; ``partitioned`` never uses the extension.
"""

from __future__ import annotations

import logging
from typing import Literal

import psycopg

log = logging.getLogger(__name__)
Storage = Literal["auto", "timescaledb", "partitioned"]
STORAGES: tuple[Storage, ...] = Storage.__args__  # type: ignore[attr-defined]


class StorageUnavailable(RuntimeError):
    """TELEMATICS_STORAGE asks for a layout this database cannot have."""


async def _one(conn: psycopg.AsyncConnection, query: str) -> object:
    cur = await conn.execute(query)
    row = await cur.fetchone()
    return row[0] if row else None


async def timescale_state(conn: psycopg.AsyncConnection) -> tuple[bool, str]:
    """(usable, why not): created here, or preloaded by the server."""
    if await _one(conn, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"):
        return True, ""
    # pg_settings, not current_setting(): the setting is hidden from roles without
    # pg_read_all_settings, and a hidden setting must mean "unknown", not an error
    preload = await _one(conn, "SELECT setting FROM pg_settings"
                               " WHERE name = 'shared_preload_libraries'")
    if preload is not None and "timescaledb" in [p.strip() for p in str(preload).split(",")]:
        return True, ""
    if await _one(conn, "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"):
        if preload is None:
            return False, ("the timescaledb extension is installed, and this role cannot see"
                           " shared_preload_libraries (grant pg_read_all_settings, or set"
                           " TELEMATICS_STORAGE=timescaledb)")
        return False, ("the timescaledb extension is installed but not preloaded: add it to"
                       " shared_preload_libraries in postgresql.conf and restart the server")
    return False, "the timescaledb extension is not installed on this server"


async def choose(conn: psycopg.AsyncConnection, storage: Storage) -> bool:
    """True for TimescaleDB hypertables, False for native partitions."""
    if storage == "partitioned":
        return False
    if storage == "timescaledb":
        return True  # the migration's CREATE EXTENSION says why, if it cannot be used
    usable, why = await timescale_state(conn)
    if usable:
        return True
    log.warning("storage: using the partitioned PostgreSQL layout; %s", why)
    return False
