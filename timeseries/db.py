"""Connections: open one, and create the database when it does not exist yet."""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if missing (connects to ``postgres`` to do so)."""
    params = conninfo_to_dict(url)
    name = str(params.get("dbname") or "postgres")
    try:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    else:
        await conn.close()
        return
    admin = make_conninfo(url, dbname="postgres")
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


async def connect(url: str, *, application: str = "telematics-gateway") -> psycopg.AsyncConnection:
    """An autocommit connection; callers open explicit transactions."""
    conn = await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name=application, connect_timeout=10
    )
    return conn
