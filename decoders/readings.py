"""What a decoder produces: rows of signal values, cockpit events and partial rejections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decoders.errors import Rejection

Value = float | None


@dataclass(slots=True)
class CockpitEvent:
    """A discrete cockpit event (navigation started, media played, ...)."""

    t_ms: int
    type: str
    attrs: dict[str, Any]
    known: bool


@dataclass(slots=True)
class Readings:
    """The valid content of one message, in storage encoding.

    ``columns`` maps a samples-table column to values aligned with ``ts_ms``;
    enums are stored as their index in the catalog, booleans as 0.0/1.0.
    """

    vin: str
    seq: int
    t0_ms: int
    ts_ms: list[int] = field(default_factory=list)
    columns: dict[str, list[Value]] = field(default_factory=dict)
    events: list[CockpitEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def value_count(self) -> int:
        """Number of stored (non-null) signal values."""
        return sum(len(v) - v.count(None) for v in self.columns.values())

    @property
    def is_empty(self) -> bool:
        """True when nothing of the message survived validation."""
        return not self.events and self.value_count == 0


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What a decoder knows besides the payload: the topic's VIN and the clock."""

    topic: str
    topic_vin: str
    now_ms: int
