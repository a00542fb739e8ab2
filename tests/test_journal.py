"""The in-flight journal against a real PostgreSQL: a batch is one row while its connection
lives; a lost connection's batches are counted message by message by the next writer that
connects; commits clear both; a part of a batch committed alone takes only its messages."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from gateway.schema import migrate
from timeseries import journal
from timeseries.db import connect

pytestmark = pytest.mark.live


def digests(*names: str) -> list[bytes]:
    return [hashlib.sha256(n.encode()).digest() for n in names]


@pytest.fixture
async def url(db_url: str) -> AsyncIterator[str]:
    conn = await connect(db_url)
    await migrate(conn)
    await conn.close()
    yield db_url


async def writer(url: str) -> tuple[psycopg.AsyncConnection, int]:
    """A writer's connection with its owner token, having adopted the orphans."""
    conn = await connect(url)
    owner = await journal.claim(conn)
    await journal.adopt(conn, owner)
    return conn, owner


async def close(url: str, conn: psycopg.AsyncConnection, owner: int) -> None:
    """Close a writer's connection and wait until its server process has let go of the
    owner's lock (it exits a moment after the client leaves), as after a crash."""
    await conn.close()
    probe = await connect(url)
    for _ in range(200):
        cur = await probe.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            " AND (classid::bigint << 32 | objid::bigint) = %s", [owner])
        row = await cur.fetchone()
        if row is not None and row[0] == 0:
            break
        await asyncio.sleep(0.01)
    await probe.close()


async def table(conn: psycopg.AsyncConnection, name: str) -> list[tuple[Any, ...]]:
    cur = await conn.execute(f"SELECT * FROM {name}")
    return await cur.fetchall()


async def commit(conn: psycopg.AsyncConnection, owner: int, batch: list[bytes]) -> None:
    async with conn.transaction():
        await journal.finish(conn, owner, batch)


async def test_a_committed_batch_leaves_nothing(url: str) -> None:
    conn, owner = await writer(url)
    batch = digests("a", "b", "c")
    await journal.begin(conn, owner, batch)
    assert len(await table(conn, "inflight_batches")) == 1
    assert await table(conn, "inflight_journal") == []  # one row per batch, not per message
    assert await journal.attempts(conn, batch) == {}  # a live writer's batch is not a crash
    await commit(conn, owner, batch)
    assert await table(conn, "inflight_batches") == []
    await conn.close()


async def test_a_lost_writers_messages_are_counted_and_cleared_by_their_commit(url: str
                                                                               ) -> None:
    a, b, c = digests("a", "b", "c")
    first, owner = await writer(url)
    await journal.begin(first, owner, [a, b, b, c])  # b twice in one batch: one start
    other, _ = await writer(url)
    assert await journal.attempts(other, [a, b, c]) == {}  # its owner still lives
    await close(url, first, owner)  # the process died with the batch in flight
    second, owner2 = await writer(url)
    assert await journal.attempts(second, [a, b, c]) == {a: 1, b: 1, c: 1}
    assert await table(second, "inflight_batches") == []
    await journal.begin(second, owner2, [b])  # redelivered, processed alone ...
    await close(url, second, owner2)  # ... and died again
    third, owner3 = await writer(url)
    assert await journal.attempts(third, [a, b, c]) == {a: 1, b: 2, c: 1}
    for d in (a, c):
        await journal.begin(third, owner3, [d])
        await commit(third, owner3, [d])
    assert await journal.attempts(third, [a, b, c]) == {b: 2}
    await commit(third, owner3, [b])  # quarantined: committed as a dead letter, not begun
    assert await journal.attempts(third, [a, b, c]) == {}
    assert await table(third, "inflight_journal") == []
    assert await table(third, "inflight_batches") == []
    await third.close()
    await other.close()


async def test_a_batch_committed_in_parts_or_on_a_new_connection(url: str) -> None:
    a, b, c, d = digests("a", "b", "c", "d")
    conn, owner = await writer(url)
    await journal.begin(conn, owner, [a, b, c, d])
    await commit(conn, owner, [a, b])  # the half that the database took
    (row,) = await table(conn, "inflight_batches")
    assert row[2] == c + d
    await commit(conn, owner, [c, d])
    assert await table(conn, "inflight_batches") == []
    await journal.begin(conn, owner, [a, b])
    await close(url, conn, owner)  # the connection is lost before the commit; the batch is retried
    again, owner2 = await writer(url)
    await journal.begin(again, owner2, [a, b])
    await commit(again, owner2, [a, b])
    assert await table(again, "inflight_batches") == []
    assert await table(again, "inflight_journal") == []  # adopted, then cleared by the commit
    await again.close()
