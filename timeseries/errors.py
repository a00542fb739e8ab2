"""Storage errors sorted into transient (retry later) and permanent (this data will never fit).

Only errors about the data itself are permanent: SQLSTATE class 22 (data exception, e.g. a
value out of range) and 23 (integrity constraint violation, e.g. a CHECK). Everything else —
connection loss, deadlocks, disk full, missing privileges, a dropped table — is a problem of
the database or its operator: retried with backoff and never turned into dead letters, so
fixing the database is all it takes to resume without losing anything.
"""

from __future__ import annotations

import psycopg


class StorageError(Exception):
    """Base class of storage failures."""


class TransientStorageError(StorageError):
    """The database is down, slow, full, misconfigured or busy: retry the same batch."""


class PermanentStorageError(StorageError):
    """The database refused this data: retrying the same rows will fail again."""


PERMANENT_SQLSTATE_CLASSES = ("22", "23")


def classify(exc: BaseException) -> StorageError:
    """Map a psycopg (or OS) error onto the transient/permanent split."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, psycopg.Error) and (exc.sqlstate or "")[:2] in PERMANENT_SQLSTATE_CLASSES:
        return PermanentStorageError(f"{type(exc).__name__} [{exc.sqlstate}]: {exc}")
    if isinstance(exc, psycopg.Error | OSError | TimeoutError):
        state = getattr(exc, "sqlstate", None) or ""
        return TransientStorageError(f"{type(exc).__name__} [{state}]: {exc}")
    return PermanentStorageError(f"{type(exc).__name__}: {exc}")
