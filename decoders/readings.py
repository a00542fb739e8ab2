"""What a decoder produces: rows of signal values, cockpit events and partial rejections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from decoders.errors import Rejection

if TYPE_CHECKING:
    from decoders.can_dbc import CanModels

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

    ``values`` holds one row per name in ``signals`` (samples-table columns) and one
    column per entry of ``ts_ms``, NaN where a signal was not sampled (NaN readings are
    rejected, so NaN never stands for a value). Enums are stored as their index in the
    catalog, booleans as 0.0/1.0. ``value_count`` is the number of values that are there.
    ``dtc_reports``: ``(t_ms, codes)`` for each row that reported the active trouble codes
    (sorted, each once; empty: none active). ``software_reports``: ``(t_ms, component,
    version)`` for each row that reported a software version (component ``head_unit`` or
    ``vehicle``, from the catalog's text signals).
    """

    vin: str
    seq: int
    t0_ms: int
    ts_ms: list[int] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    events: list[CockpitEvent] = field(default_factory=list)
    dtc_reports: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    software_reports: list[tuple[int, str, str]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    value_count: int = 0
    unknown_frames: int = 0  # CAN frames whose id the vehicle's DBC does not describe
    unavailable_values: int = 0  # CAN raw values the DBC names (SNA, Init, Error): no reading

    @property
    def columns(self) -> dict[str, list[Value]]:
        """The values per column as lists, None where absent (for people and tests)."""
        return {name: [None if v != v else v for v in row]
                for name, row in zip(self.signals, self.values.tolist(), strict=True)}

    @property
    def is_empty(self) -> bool:
        """True when nothing of the message survived validation."""
        return not (self.events or self.value_count or self.dtc_reports
                    or self.software_reports)


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What a decoder knows besides the payload: the topic's VIN and the clock."""

    topic: str
    topic_vin: str
    now_ms: int
    model: str | None = None  # the vehicle's model from the registry (CAN: picks the DBC)
    can_models: CanModels | None = None  # the loaded CAN models (None: the shipped ones)
