"""The simulated car's condition: its 12 V battery, tyres, brake pads, engine oil and
traction battery, read at every start; some cars develop a fault (a weakening battery, a slow
tyre leak, oil consumption, a weak traction battery) and a dealer visit that services the
matching item fixes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TYRES = tuple(f"Vehicle.Chassis.Axle.{r}.Wheel.{s}.Tire.Pressure"
              for r in ("Row1", "Row2") for s in ("Left", "Right"))
PADS = tuple(f"Vehicle.Chassis.Axle.Row1.Wheel.{s}.Brake.PadWear" for s in ("Left", "Right"))
VOLTAGE = "Vehicle.LowVoltageBattery.CurrentVoltage"
OIL = "Vehicle.Powertrain.CombustionEngine.EngineOilLevel"
SOH = "Vehicle.Powertrain.TractionBattery.StateOfHealth"


@dataclass(slots=True)
class CarCondition:
    """Condition state; ``day`` counts simulated days from the start."""

    rng: np.random.Generator
    ice: bool
    ev: bool
    battery_v: float = 12.5
    battery_weak_from: int | None = None
    tyres: list[float] = field(default_factory=list)
    leak_wheel: int | None = None
    leak_from: int = 0
    pad_wear: float = 20.0
    pad_km: float = 0.0  # odometer when the pads were last measured
    oil_low_from: int | None = None
    soh: float = 100.0
    _day: int = 0

    @classmethod
    def make(cls, rng: np.random.Generator, powertrain: str, days: int, age_days: int,
             odometer_km: float) -> CarCondition:
        """A car's condition at the start of the simulation."""
        c = cls(rng, powertrain in ("ice", "phev"), powertrain in ("bev", "phev"))
        c.battery_v = float(rng.uniform(12.35, 12.65))
        if rng.random() < 0.15:
            c.battery_weak_from = int(rng.integers(0, max(1, days)))
        c.tyres = [float(rng.uniform(235, 255)) for _ in TYRES]
        if rng.random() < 0.12:
            c.leak_wheel, c.leak_from = int(rng.integers(0, 4)), int(rng.integers(0, max(1, days)))
        c.pad_wear, c.pad_km = float(rng.uniform(10, 78)), odometer_km
        if c.ice and rng.random() < 0.08:
            c.oil_low_from = int(rng.integers(0, max(1, days)))
        if c.ev:
            c.soh = 100.0 - age_days / 365 * 2.0 - (20.0 if rng.random() < 0.1 else 0.0)
        return c

    def new_day(self, day: int) -> None:
        """Before the day's driving: faults progress."""
        self._day = day
        if self.battery_weak_from is not None and day >= self.battery_weak_from:
            self.battery_v -= 0.035
        if self.leak_wheel is not None and day >= self.leak_from:
            self.tyres[self.leak_wheel] -= 2.5

    def readings(self, odometer_km: float) -> dict[str, Any]:
        """What the car reports at a start."""
        wear = self.pad_wear + (odometer_km - self.pad_km) * 0.004
        out: dict[str, Any] = {
            VOLTAGE: round(self.battery_v + float(self.rng.normal(0, 0.03)), 2),
            **{name: round(p + float(self.rng.normal(0, 0.5)), 1)
               for name, p in zip(TYRES, self.tyres, strict=True)},
            PADS[0]: round(min(100.0, wear), 1), PADS[1]: round(min(100.0, wear * 0.97), 1)}
        if self.ice:
            low = self.oil_low_from is not None and self._day >= self.oil_low_from
            out[OIL] = "LOW" if low else "NORMAL"
        if self.ev:
            out[SOH] = round(self.soh, 1)
        return out

    def service(self, items: tuple[str, ...], odometer_km: float) -> None:
        """A dealer visit: each serviced item fixes its fault."""
        if "battery_check" in items:
            self.battery_v, self.battery_weak_from = 12.6, None
        if "tyre_check" in items:
            self.tyres, self.leak_wheel = [250.0 for _ in TYRES], None
        if "brake_pads" in items:
            self.pad_wear, self.pad_km = 2.0, odometer_km
        if "engine_oil" in items:
            self.oil_low_from = None
        if "traction_battery_check" in items:
            self.soh = 96.0
