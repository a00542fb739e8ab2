"""Fixtures that start real services (see localservices/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localservices import Broker, create_database, drop_database


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Mosquitto (project config) for one test."""
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def db_url() -> Iterator[str]:
    """A fresh, empty database for one test."""
    url = create_database()
    yield url
    drop_database(url)
