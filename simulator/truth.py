"""Ground truth the simulator writes next to what it publishes."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class DayTruth:
    """What one vehicle did on one local day (trips are counted on the day they start)."""

    km: float = 0.0
    drive_seconds: int = 0
    trips: list[dict[str, Any]] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    features: dict[str, list[int]] = field(default_factory=dict)  # feature: [uses, seconds]
    refuels: int = 0
    charges: int = 0
    final_odometer_km: float | None = None
    soh: float | None = None  # the lowest traction-battery health reported that day


@dataclass(slots=True)
class VehicleTruth:
    """Totals of what one vehicle published (before any fault injection)."""

    vin: str
    meta: dict[str, Any]
    days: dict[str, DayTruth] = field(default_factory=dict)
    rows: int = 0
    values: int = 0
    events: int = 0
    messages: int = 0
    service: dict[str, Any] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)  # charging and refuels

    def day(self, key: str) -> DayTruth:
        """The day record, created on first use."""
        return self.days.setdefault(key, DayTruth())


@dataclass(slots=True)
class FleetTruth:
    """Everything, plus the garbage payloads and the faults injected."""

    vehicles: dict[str, VehicleTruth] = field(default_factory=dict)
    garbage: list[dict[str, str]] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    engagement: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per owner

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "vehicles": {
                vin: {
                    "meta": v.meta, "rows": v.rows, "values": v.values, "events": v.events,
                    "messages": v.messages, "service": v.service, "sessions": v.sessions,
                    "days": {d: {**asdict(t), "events": dict(t.events)}
                             for d, t in sorted(v.days.items())},
                } for vin, v in self.vehicles.items()
            },
            "garbage": self.garbage,
            "faults": dict(self.faults),
            "engagement": self.engagement,
        }

    def write(self, path: str) -> None:
        """Save as JSON."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, indent=1, default=str)
