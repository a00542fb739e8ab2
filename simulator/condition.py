"""The simulated car's condition: its 12 V battery, tyres, brake pads, engine oil, traction
battery and active trouble codes, read at every start; some cars develop a fault (a
weakening battery, a slow tyre leak, oil consumption, a weak traction battery, a misfiring
cylinder) and a dealer visit that services the matching item fixes it. Some cars also set a
body-electronics code for a few days that clears on its own (no rule makes it due)."""

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
DTC = "Vehicle.OBD.DTCList"
MISFIRE, BODY = "P0302", "B1A00"
PACK_PER_YEAR, WEAK_PACK_PER_YEAR = 2.0, 8.0  # traction battery health lost a year


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
    soh_per_year: float = 0.0  # how fast the traction battery loses health (points a year)
    misfire_from: int | None = None
    body_code_days: tuple[int, int] | None = None  # [first, last] day the body code is set
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
            weak = rng.random() < 0.1
            c.soh = 100.0 - age_days / 365 * 2.0 - (20.0 if weak else 0.0)
            c.soh_per_year = WEAK_PACK_PER_YEAR if weak else PACK_PER_YEAR
        codes = np.random.default_rng(rng.integers(2**32))  # trouble codes: their own draws
        if c.ice and codes.random() < 0.12:
            c.misfire_from = int(codes.integers(0, max(1, days)))
        if codes.random() < 0.12:
            first = int(codes.integers(0, max(1, days)))
            c.body_code_days = (first, first + int(codes.integers(2, 8)))
        return c

    def new_day(self, day: int) -> None:
        """Before the day's driving: faults progress."""
        self._day = day
        if self.battery_weak_from is not None and day >= self.battery_weak_from:
            self.battery_v -= 0.035
        if self.leak_wheel is not None and day >= self.leak_from:
            self.tyres[self.leak_wheel] -= 2.5
        if self.ev and day > 0:
            self.soh -= self.soh_per_year / 365

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
        codes = []
        if self.misfire_from is not None and self._day >= self.misfire_from:
            codes.append(MISFIRE)
        if self.body_code_days and self.body_code_days[0] <= self._day <= self.body_code_days[1]:
            codes.append(BODY)
        out[DTC] = sorted(codes)
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
        if "traction_battery_check" in items:  # the pack is repaired: it ages normally
            self.soh, self.soh_per_year = 96.0, PACK_PER_YEAR
        if "engine_check" in items:
            self.misfire_from = None


def code_truth(log: list[tuple[int, list[str]]]) -> dict[str, dict[str, Any]]:
    """Each code of the reports ``(t_ms, codes)``: the first and last report listing it, the
    report that cleared it (the first after its last, if any), and how many runs of reports
    listed it."""
    out: dict[str, dict[str, Any]] = {}
    times = [t for t, _ in log]
    for code in sorted({c for _, codes in log for c in codes}):
        flags = [code in codes for _, codes in log]
        last = max(i for i, f in enumerate(flags) if f)
        runs = sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))
        out[code] = {"first_seen_ms": times[flags.index(True)], "last_seen_ms": times[last],
                     "cleared_ms": times[last + 1] if last + 1 < len(times) else None,
                     "episodes": runs}
    return out
