"""The in-flight journal: which messages a writer began and has not yet committed.

Why: a message that kills the process (a decoder stuck in native code, an interpreter
crash, the out-of-memory killer) is never acknowledged, so the broker delivers it again
after every restart and the gateway would die on it forever. Before processing, a writer
records each message's identity (sha256 of topic and payload) and counts how often it
began it; the commit of the batch removes the entries in the same transaction. A message
found with attempts left over was in flight when the process died; the pipeline then
processes it alone, and quarantines it as a ``poison`` dead letter once it has begun it
as often as the limit allows. The table is UNLOGGED: a database crash only resets counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from timeseries.schema import Layout

DIGEST_BYTES = 32
# the digests travel as one bytea (32 bytes each) and are split in SQL: one parameter to
# adapt instead of one per message
_SPLIT = ("SELECT substring(%(blob)s::bytea FROM (k - 1) * 32 + 1 FOR 32) AS digest"
          " FROM generate_series(1, %(n)s) AS k")


def ddl(layout: Layout) -> list[str]:
    """The journal table (the same on every layout)."""
    return ["""CREATE UNLOGGED TABLE IF NOT EXISTS inflight_journal (
            digest bytea PRIMARY KEY,
            attempts int NOT NULL DEFAULT 1,
            first_at timestamptz NOT NULL DEFAULT now(),
            last_at timestamptz NOT NULL DEFAULT now())"""]


def _blob(digests: Sequence[bytes]) -> dict[str, object]:
    return {"blob": b"".join(digests), "n": len(digests)}


async def attempts(conn: psycopg.AsyncConnection, digests: Sequence[bytes]) -> dict[bytes, int]:
    """How often each of these messages was begun and not committed (absent: never)."""
    if not digests:
        return {}
    cur = await conn.execute(
        f"SELECT j.digest, j.attempts FROM inflight_journal j JOIN ({_SPLIT}) d"
        " ON d.digest = j.digest", _blob(digests))
    return {bytes(d): n for d, n in await cur.fetchall()}


async def begin(conn: psycopg.AsyncConnection, digests: Sequence[bytes]) -> None:
    """Count one more start of each message."""
    if not digests:
        return
    await conn.execute(
        f"INSERT INTO inflight_journal (digest) SELECT DISTINCT digest FROM ({_SPLIT}) d"
        " ON CONFLICT (digest) DO UPDATE SET attempts = inflight_journal.attempts + 1,"
        " last_at = now()", _blob(digests))


async def finish(conn: psycopg.AsyncConnection, digests: Sequence[bytes]) -> None:
    """Forget these messages (called inside the transaction that commits them)."""
    if digests:
        await conn.execute(f"DELETE FROM inflight_journal WHERE digest IN ({_SPLIT})",
                           _blob(digests))
