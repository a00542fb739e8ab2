"""The storage seam: what the ingest pipeline needs from storage, and its PostgreSQL form.

The contract of every method: it succeeds, or raises ``TransientStorageError`` (the
database is away, slow or misconfigured: keep the batch, call ``reset``, retry later).
``write`` never raises ``PermanentStorageError``: data the database refuses is isolated
into ``storage`` dead letters and the rest of the batch commits. Anything else that
escapes is a bug and is not caught here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol, TypeVar

import psycopg

from timeseries import journal
from timeseries.batch import Envelope, WriteResult
from timeseries.db import connect
from timeseries.errors import TransientStorageError, classify
from timeseries.schema import Layout
from timeseries.vehicles import ModelLookup
from timeseries.writer import BatchWriter

T = TypeVar("T")


class Store(Protocol):
    """Storage as the pipeline sees it."""

    async def models(self, vins: Collection[str]) -> dict[str, str | None]:
        """The registered model of each VIN (None: unregistered)."""

    async def attempts(self, digests: Sequence[bytes]) -> dict[bytes, int]:
        """How often each message was begun and never committed (absent: never)."""

    async def begin(self, digests: Sequence[bytes]) -> None:
        """Record that processing of these messages (their digests) starts now."""

    async def write(self, envelopes: Sequence[Envelope]) -> WriteResult:
        """Commit the batch (and finish its journal entries) in one transaction."""

    async def reset(self) -> None:
        """Drop the connection after a failure; the next call reconnects."""


class PostgresStore:
    """The PostgreSQL / TimescaleDB store: one connection, opened on first use."""

    def __init__(self, db_url: str, layout: Layout, application: str) -> None:
        self.db_url = db_url
        self.layout = layout
        self.application = application
        self._writer: BatchWriter | None = None
        self._models = ModelLookup()

    async def _ensure(self) -> BatchWriter:
        if self._writer is None:
            try:
                conn = await connect(self.db_url, application=self.application)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                raise TransientStorageError(str(classify(exc))) from exc
            writer = BatchWriter(conn, self.layout)
            try:
                writer.owner = await journal.claim(conn)
                await journal.adopt(conn, writer.owner)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                await conn.close()
                raise TransientStorageError(str(classify(exc))) from exc
            self._writer = writer
        return self._writer

    async def _guard(self, op: Callable[[BatchWriter], Awaitable[T]]) -> T:
        writer = await self._ensure()
        try:
            return await op(writer)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            err = classify(exc)
            # outside write, even a data error is the database's problem, not the data's
            raise TransientStorageError(str(err)) from exc

    async def models(self, vins: Collection[str]) -> dict[str, str | None]:
        """See ``Store.models``."""
        return await self._guard(lambda w: self._models.models(w.conn, vins))

    async def attempts(self, digests: Sequence[bytes]) -> dict[bytes, int]:
        """See ``Store.attempts``."""
        return await self._guard(lambda w: journal.attempts(w.conn, digests))

    async def begin(self, digests: Sequence[bytes]) -> None:
        """See ``Store.begin``."""
        await self._guard(lambda w: journal.begin(w.conn, w.owner, digests))

    async def write(self, envelopes: Sequence[Envelope]) -> WriteResult:
        """See ``Store.write``."""
        return await (await self._ensure()).write_isolating(envelopes)

    async def reset(self) -> None:
        """See ``Store.reset``."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.conn.close()
