"""What the pipeline hands to storage: one envelope per MQTT message, decoded or rejected."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from decoders.errors import Rejection
from decoders.readings import Readings
from decoders.registry import topic_vin
from timeseries.errors import PermanentStorageError


def message_digest(topic: str, payload: bytes) -> bytes:
    """The identity of a raw message: the same topic and bytes are the same message."""
    return hashlib.sha256(topic.encode() + b"\0" + payload).digest()


@dataclass(slots=True)
class Envelope:
    """One received message and what the decoder made of it.

    ``readings`` is None when the whole message was rejected; ``rejections`` lists every
    reason (for a partly bad message, the parts that were dropped).
    """

    topic: str
    payload: bytes
    received_ms: int
    decoder: str
    readings: Readings | None
    rejections: list[Rejection] = field(default_factory=list)
    known_digest: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def digest(self) -> bytes:
        """Identity of the raw message, so a redelivered bad message is kept once (computed
        once: the pipeline hands over the one it took for the journal)."""
        if self.known_digest is None:
            self.known_digest = message_digest(self.topic, self.payload)
        return self.known_digest

    @property
    def vin(self) -> str | None:
        """The VIN, from the payload if decoded, else from the topic."""
        if self.readings is not None:
            return self.readings.vin
        return topic_vin(self.topic)[:17] or None


@dataclass(slots=True)
class WriteResult:
    """What a committed batch contained."""

    messages: int = 0
    duplicates: int = 0
    rows: int = 0
    values: int = 0
    events: int = 0
    dead_letters: int = 0
    rejected_by_storage: list[Envelope] = field(default_factory=list)

    def add(self, other: WriteResult) -> None:
        """Accumulate another (sub-)batch's result."""
        self.messages += other.messages
        self.duplicates += other.duplicates
        self.rows += other.rows
        self.values += other.values
        self.events += other.events
        self.dead_letters += other.dead_letters
        self.rejected_by_storage += other.rejected_by_storage


async def isolate(write: Callable[[Sequence[Envelope]], Awaitable[WriteResult]],
                  batch: Sequence[Envelope]) -> WriteResult:
    """Commit ``batch`` with ``write``; on a permanent error split it until the culprits are
    alone: each culprit becomes a dead letter with reason ``storage`` and the rest commits.
    Transient errors propagate (the caller keeps the whole batch and retries)."""
    try:
        return await write(batch)
    except PermanentStorageError as exc:
        if len(batch) == 1:
            env = batch[0]
            culprit = Envelope(env.topic, env.payload, env.received_ms, env.decoder, None,
                               [Rejection("storage", f"database refused: {str(exc)[:300]}")])
            result = await write([culprit])
            result.rejected_by_storage.append(culprit)
            return result
        mid = len(batch) // 2
        result = await isolate(write, batch[:mid])
        result.add(await isolate(write, batch[mid:]))
        return result
