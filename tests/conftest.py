"""Fixtures that start real services (see localservices/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from localservices import PG_ADMIN, Broker, create_database, drop_database, query
from localservices.postgres import PostgresServer, archive_present, timescaledb_bin
from timeseries.db import connect

LAYOUTS = ("partitioned", "timescaledb")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_layouts: run on partitioned PostgreSQL and on"
                            " TimescaleDB (db_url)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" in metafunc.fixturenames \
            and metafunc.definition.get_closest_marker("both_layouts"):
        metafunc.parametrize("db_url", LAYOUTS, indirect=True)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Mosquitto (project config) for one test."""
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def timescaledb_server() -> Iterator[PostgresServer]:
    """Our own PostgreSQL 15 with TimescaleDB preloaded (built by scripts/setup.sh from the
    vendored source); skipped, saying so, where the source is absent."""
    bin_dir = timescaledb_bin()
    if bin_dir is None:
        if archive_present():
            pytest.fail("the TimescaleDB source is here but not built: run scripts/setup.sh")
        pytest.skip("TimescaleDB skipped: its source (../shared/vendor) is absent")
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def ts_conn(timescaledb_server: PostgresServer) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection to a fresh database on our TimescaleDB server."""
    url = create_database(admin=timescaledb_server.admin_url)
    conn = await connect(url)
    yield conn
    await conn.close()
    drop_database(url)


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test: on the local PostgreSQL, or on TimescaleDB
    for tests marked ``both_layouts`` (they run once on each)."""
    admin, layout = PG_ADMIN, getattr(request, "param", "partitioned")
    if layout == "timescaledb":
        admin = request.getfixturevalue("timescaledb_server").admin_url
    url = create_database(admin=admin)
    yield url
    if layout == "timescaledb":  # the gateway chose hypertables there, on its own
        assert query(url, "SELECT value FROM storage_meta WHERE key = 'layout'") \
            == [("timescaledb",)]
    drop_database(url)
