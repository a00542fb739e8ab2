"""Software versions and over-the-air updates of the simulated cars.

Every car starts on head-unit release ``HU_OLD`` and vehicle release ``VEHICLE_OLD``. Some
get the head-unit update ``HU_NEW`` installed overnight before a day of the run, others the
vehicle update, at their own day (a staggered roll-out). Head unit ``HU_NEW`` puts the voice
assistant on the home screen: an owner whose car has voice control and who had not found it
yet finds it on the day of the update (also owners who would never have found it). Cars
report both versions at every ignition on, on the map contracts only (MessagePack, JSON);
the truth lists each component's versions as the reports show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from simulator.cockpit import Habits

HEAD_UNIT = "Vehicle.Cabin.Infotainment.SoftwareVersion"
VEHICLE = "Vehicle.SoftwareVersion"
HU_OLD, HU_NEW = "5.1.2", "5.2.0"
VEHICLE_OLD, VEHICLE_NEW = "2026.38.1", "2026.44.2"
HU_SHARE, VEHICLE_SHARE = 0.6, 0.4
SURFACED = "voice.assistant"  # the feature the head-unit update puts on the home screen


@dataclass(frozen=True, slots=True)
class SoftwarePlan:
    """The run days (0-based) before which each update is installed; None: not in the run."""

    head_unit_day: int | None = None
    vehicle_day: int | None = None

    def versions(self, day_index: int) -> dict[str, str]:
        """What the car reports on that day of the run."""
        hu = self.head_unit_day is not None and day_index >= self.head_unit_day
        ve = self.vehicle_day is not None and day_index >= self.vehicle_day
        return {HEAD_UNIT: HU_NEW if hu else HU_OLD, VEHICLE: VEHICLE_NEW if ve else VEHICLE_OLD}


def software_plan(days: int, rng: np.random.Generator) -> SoftwarePlan:
    """Which updates a car gets in a run of ``days`` and when (the middle half of the run)."""
    if days < 8:
        return SoftwarePlan()
    lo, hi = days // 4, 3 * days // 4
    hu = int(rng.integers(lo, hi)) if rng.random() < HU_SHARE else None
    ve = int(rng.integers(lo, hi)) if rng.random() < VEHICLE_SHARE else None
    return SoftwarePlan(hu, ve)


def surfaced_habits(habits: Habits, plan: SoftwarePlan, start: date) -> Habits:
    """The habits once the head-unit update surfaced the voice assistant."""
    if plan.head_unit_day is None:
        return habits
    on = start + timedelta(days=plan.head_unit_day)
    return tuple((f, min(d, on) if d is not None else on) if f == SURFACED else (f, d)
                 for f, d in habits)


def history_truth(log: list[tuple[int, str, str]]) -> dict[str, list[dict[str, Any]]]:
    """Per component, the versions in the order the reports show them: first and last
    report (ms) and how many reports."""
    out: dict[str, list[dict[str, Any]]] = {}
    for t, component, version in sorted(log):
        runs = out.setdefault(component, [])
        if runs and runs[-1]["version"] == version:
            runs[-1]["last_ms"] = t
            runs[-1]["reports"] += 1
        else:
            runs.append({"version": version, "first_ms": t, "last_ms": t, "reports": 1})
    return out
