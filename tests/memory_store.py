"""An in-memory ``Store`` for fast unit tests of the pipeline: the same contract as the
PostgreSQL store (dedup by message key, dead letters by digest, the in-flight journal,
transient errors to retry, permanent errors isolated), with knobs to make it fail."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from timeseries.batch import Envelope, WriteResult, isolate
from timeseries.errors import PermanentStorageError, TransientStorageError


@dataclass
class MemoryDatabase:
    """What every store of one test shares: the 'database'."""

    messages: dict[tuple[str, int, int], Envelope] = field(default_factory=dict)
    dead_letters: dict[bytes, Envelope] = field(default_factory=dict)
    journal: dict[bytes, int] = field(default_factory=dict)
    commits: list[list[str]] = field(default_factory=list)  # topics per committed write
    fail_next: int = 0                 # transient failures to raise before succeeding
    refuse_vins: set[str] = field(default_factory=set)  # the database refuses their rows
    models: dict[str, str] = field(default_factory=dict)
    gate: asyncio.Event | None = None  # writes wait for it when set up


class MemoryStore:
    """One writer's store on a shared ``MemoryDatabase``."""

    def __init__(self, db: MemoryDatabase, delay_s: float = 0.0) -> None:
        self.db = db
        self.delay_s = delay_s
        self.resets = 0

    async def models(self, vins: Collection[str]) -> dict[str, str | None]:
        return {v: self.db.models.get(v) for v in vins}

    async def attempts(self, digests: Sequence[bytes]) -> dict[bytes, int]:
        return {d: self.db.journal[d] for d in digests if d in self.db.journal}

    async def begin(self, digests: Sequence[bytes]) -> None:
        for d in set(digests):
            self.db.journal[d] = self.db.journal.get(d, 0) + 1

    async def write(self, envelopes: Sequence[Envelope]) -> WriteResult:
        return await isolate(self._write, envelopes)

    async def _write(self, batch: Sequence[Envelope]) -> WriteResult:
        if self.db.gate is not None:
            await self.db.gate.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.db.fail_next > 0:
            self.db.fail_next -= 1
            raise TransientStorageError("connection refused (memory store)")
        if any(e.readings is not None and e.readings.vin in self.db.refuse_vins
               for e in batch):
            raise PermanentStorageError("CheckViolation [23514] (memory store)")
        result = WriteResult()
        for env in batch:
            r = env.readings
            if r is not None:
                result.messages += 1
                key = (r.vin, r.seq, r.t0_ms)
                if key in self.db.messages:
                    result.duplicates += 1
                else:
                    self.db.messages[key] = env
                    result.values += r.value_count
            if env.rejections:
                self.db.dead_letters.setdefault(env.digest, env)
                result.dead_letters += 1
            self.db.journal.pop(env.digest, None)
        self.db.commits.append([e.topic for e in batch])
        return result

    async def reset(self) -> None:
        self.resets += 1
