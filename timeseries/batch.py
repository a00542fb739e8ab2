"""What the pipeline hands to storage: one envelope per MQTT message, decoded or rejected."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from decoders.errors import Rejection
from decoders.readings import Readings


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

    @property
    def digest(self) -> bytes:
        """Identity of the raw message, so a redelivered bad message is kept once."""
        return hashlib.sha256(self.topic.encode() + b"\0" + self.payload).digest()

    @property
    def vin(self) -> str | None:
        """The VIN, from the payload if decoded, else from the topic."""
        if self.readings is not None:
            return self.readings.vin
        parts = self.topic.split("/")
        return parts[1][:17] if len(parts) > 2 and parts[0] == "vehicles" else None


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
