"""The layout choice never crashes: ``auto`` takes TimescaleDB only when it is created or
preloaded, ``timescaledb`` refuses with the reason, an existing layout is not contradicted.
(On this server the extension is not installed; the installed-but-not-preloaded state
needs a server with TimescaleDB's files, see docs/operations.md.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.schema import migrate
from localservices import ROOT, create_database, drop_database
from timeseries.db import connect
from timeseries.storage_choice import StorageUnavailable, timescale_state


@pytest.fixture
async def db() -> object:
    url = create_database()
    yield url
    drop_database(url)


async def test_auto_takes_the_partitioned_layout_and_says_why(db: str) -> None:
    async with await connect(db) as conn:
        usable, why = await timescale_state(conn)
        assert not usable and "not installed" in why
        assert not (await migrate(conn, "auto")).timescale
        with pytest.raises(StorageUnavailable, match="already holds the partitioned layout"):
            await migrate(conn, "timescaledb")
        assert not (await migrate(conn, "partitioned")).timescale


async def test_timescaledb_where_it_cannot_be_used_is_a_clear_refusal(db: str) -> None:
    async with await connect(db) as conn:
        with pytest.raises(StorageUnavailable, match="CREATE EXTENSION timescaledb failed"):
            await migrate(conn, "timescaledb")


def test_the_cli_says_what_is_wrong_instead_of_a_traceback(db: str) -> None:
    run = subprocess.run([sys.executable, "-m", "gateway", "migrate", "--db-url", db,
                          "--storage", "timescaledb"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2
    assert "configuration error:" in run.stderr and "shared_preload_libraries" in run.stderr
    assert "Traceback" not in run.stderr
