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


def ddl(layout: Layout) -> list[str]:
    """The journal table (the same on every layout)."""
    return ["""CREATE UNLOGGED TABLE IF NOT EXISTS inflight_journal (
            digest bytea PRIMARY KEY,
            topic text NOT NULL,
            attempts int NOT NULL DEFAULT 1,
            first_at timestamptz NOT NULL DEFAULT now(),
            last_at timestamptz NOT NULL DEFAULT now())"""]


async def attempts(conn: psycopg.AsyncConnection, digests: Sequence[bytes]) -> dict[bytes, int]:
    """How often each of these messages was begun and not committed (absent: never)."""
    cur = await conn.execute(
        "SELECT digest, attempts FROM inflight_journal WHERE digest = ANY(%s::bytea[])",
        (list(digests),))
    return {bytes(d): n for d, n in await cur.fetchall()}


async def begin(conn: psycopg.AsyncConnection, messages: Sequence[tuple[bytes, str]]) -> None:
    """Count one more start of each (digest, topic)."""
    unique = dict(messages)  # the same message twice in one batch is begun once
    await conn.execute(
        "INSERT INTO inflight_journal (digest, topic) SELECT * FROM unnest(%s::bytea[],"
        " %s::text[]) ON CONFLICT (digest) DO UPDATE"
        " SET attempts = inflight_journal.attempts + 1, last_at = now()",
        (list(unique), list(unique.values())))


async def finish(conn: psycopg.AsyncConnection, digests: Sequence[bytes]) -> None:
    """Forget these messages (called inside the transaction that commits them)."""
    await conn.execute("DELETE FROM inflight_journal WHERE digest = ANY(%s::bytea[])",
                       (list(digests),))
