"""Storage errors sorted into transient (retry later) and permanent (this data will never fit)."""

from __future__ import annotations

import psycopg
from psycopg import errors as pgerr


class StorageError(Exception):
    """Base class of storage failures."""


class TransientStorageError(StorageError):
    """The database is down, slow, full or busy: retry the same batch with backoff."""


class PermanentStorageError(StorageError):
    """The database refused this data: retrying the same rows will fail again."""


_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "55", "57", "58", "XX")
# 08 connection, 40 rollback (deadlock/serialization), 53 resources (disk full, out of memory),
# 55 object not in state (lock not available), 57 operator intervention (shutdown, cancel),
# 58 system error (I/O), XX internal error.


def classify(exc: BaseException) -> StorageError:
    """Map a psycopg (or OS) error onto the transient/permanent split."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, psycopg.OperationalError | OSError | TimeoutError):
        if isinstance(exc, pgerr.InsufficientPrivilege):
            return PermanentStorageError(f"insufficient privilege: {exc}")
        return TransientStorageError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if state[:2] in _TRANSIENT_SQLSTATE_CLASSES or isinstance(exc, psycopg.InterfaceError):
            return TransientStorageError(f"{type(exc).__name__} [{state}]: {exc}")
        return PermanentStorageError(f"{type(exc).__name__} [{state}]: {exc}")
    return PermanentStorageError(f"{type(exc).__name__}: {exc}")
