"""The in-flight journal: which messages a writer began and has not yet committed.

Why: a message that kills the process (a decoder stuck in native code, an interpreter
crash, the out-of-memory killer) is never acknowledged, so the broker delivers it again
after every restart and the gateway would die on it forever. Before processing, a writer
records each message's identity (sha256 of topic and payload); the commit of the batch
removes the record in the same transaction. A message found with attempts left over was in
flight when a process died; the pipeline then processes it alone, and quarantines it as a
``poison`` dead letter once it has begun it as often as the limit allows.

How, cheaply: a writer records a batch as one row (``inflight_batches``: its digests in one
bytea) owned by its connection, which holds a session advisory lock on the row's owner
token for as long as it lives; the commit deletes that one row. Only rows whose owner is
gone (the process died, or lost its connection) are counted message by message into
``inflight_journal``, by the next writer that connects (``adopt``); that table is what
``attempts`` reads and what the commit of a redelivered message clears. Both tables are
UNLOGGED: a database crash only resets counts.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

import psycopg

from timeseries.schema import Layout

DIGEST_BYTES = 32
# the digests travel as one bytea (32 bytes each) and are split in SQL: one parameter to
# adapt instead of one per message
_SPLIT = ("SELECT substring(%(blob)s::bytea FROM (k - 1) * 32 + 1 FOR 32) AS digest"
          " FROM generate_series(1, %(n)s) AS k")
# each (row, digest) once: a digest twice in one batch is one start of it
_HELD = ("SELECT DISTINCT o.owner, o.batch_key, o.attempts,"
         " substring(o.digests FROM (k - 1) * 32 + 1 FOR 32) AS digest"
         " FROM orphans o, generate_series(1, length(o.digests) / 32) AS k")


def ddl(layout: Layout) -> list[str]:
    """The per-message counts (the same on every layout)."""
    return ["""CREATE UNLOGGED TABLE IF NOT EXISTS inflight_journal (
            digest bytea PRIMARY KEY,
            attempts int NOT NULL DEFAULT 1,
            first_at timestamptz NOT NULL DEFAULT now(),
            last_at timestamptz NOT NULL DEFAULT now())"""]


def batches_ddl(layout: Layout) -> list[str]:
    """The batches in flight, one row each (the same on every layout)."""
    return ["""CREATE UNLOGGED TABLE IF NOT EXISTS inflight_batches (
            owner bigint NOT NULL,
            batch_key bytea NOT NULL,
            digests bytea NOT NULL,
            attempts int NOT NULL DEFAULT 1,
            first_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (batch_key, owner))"""]


def _blob(digests: Sequence[bytes]) -> dict[str, object]:
    return {"blob": b"".join(digests), "n": len(digests)}


async def claim(conn: psycopg.AsyncConnection) -> int:
    """An owner token for this connection's batches: a random number whose session advisory
    lock the connection holds until it closes (so a row is an orphan once that lock is
    free)."""
    while True:
        token = secrets.randbits(62) + 1
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", [token])
        row = await cur.fetchone()
        if row is not None and row[0]:
            return token


async def adopt(conn: psycopg.AsyncConnection, owner: int) -> None:
    """Count the messages of every batch whose owner is gone, one by one, and drop those
    batches (concurrent writers adopt each orphan once: the rows are deleted)."""
    await conn.execute(
        "WITH orphans AS (DELETE FROM inflight_batches b WHERE b.owner <> %(owner)s"
        " AND pg_try_advisory_xact_lock(b.owner)"
        " RETURNING b.owner, b.batch_key, b.attempts, b.digests)"
        " INSERT INTO inflight_journal (digest, attempts)"
        f" SELECT h.digest, sum(h.attempts) FROM ({_HELD}) h GROUP BY h.digest"
        " ON CONFLICT (digest) DO UPDATE SET"
        " attempts = inflight_journal.attempts + EXCLUDED.attempts, last_at = now()",
        {"owner": owner})


async def attempts(conn: psycopg.AsyncConnection, digests: Sequence[bytes]) -> dict[bytes, int]:
    """How often each of these messages was begun and not committed (absent: never)."""
    if not digests:
        return {}
    cur = await conn.execute(
        f"SELECT j.digest, j.attempts FROM inflight_journal j WHERE j.digest IN ({_SPLIT})",
        _blob(digests))
    return {bytes(d): n for d, n in await cur.fetchall()}


def _key(digests: Sequence[bytes]) -> bytes:
    return hashlib.sha256(b"".join(digests)).digest()


async def begin(conn: psycopg.AsyncConnection, owner: int, digests: Sequence[bytes]) -> None:
    """Record one more start of these messages: one row for the batch."""
    if not digests:
        return
    await conn.execute(
        "INSERT INTO inflight_batches (owner, batch_key, digests) VALUES (%s, %s, %s)"
        " ON CONFLICT (batch_key, owner) DO UPDATE SET"
        " attempts = inflight_batches.attempts + 1", [owner, _key(digests), b"".join(digests)])


async def finish(conn: psycopg.AsyncConnection, owner: int, digests: Sequence[bytes]) -> None:
    """Forget these messages (called inside the transaction that commits them): the rows of
    the batch begun with exactly these digests (by this connection or one that was lost
    before the commit), or else (a part of a batch committed alone) these digests out of
    this owner's rows; and their counts, if a process died with them."""
    if not digests:
        return
    cur = await conn.execute("DELETE FROM inflight_batches WHERE batch_key = %s",
                             [_key(digests)])
    params = {**_blob(digests), "owner": owner}
    if not cur.rowcount:
        await conn.execute(
            "UPDATE inflight_batches b SET digests = (SELECT coalesce(string_agg(x.digest,"
            " ''::bytea ORDER BY x.k), ''::bytea) FROM (SELECT k, substring(b.digests FROM"
            " (k - 1) * 32 + 1 FOR 32) AS digest FROM generate_series(1, length(b.digests)"
            f" / 32) AS k) x WHERE x.digest NOT IN ({_SPLIT})) WHERE b.owner = %(owner)s",
            params)
        await conn.execute("DELETE FROM inflight_batches WHERE owner = %(owner)s"
                           " AND digests = ''::bytea", params)
    await conn.execute(f"DELETE FROM inflight_journal WHERE digest IN ({_SPLIT})", params)
