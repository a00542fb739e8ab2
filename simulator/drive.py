"""One trip at 1 Hz: a speed profile whose integral is the odometer, plus idle at both ends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CRUISE = {"urban": (45.0, 1.2), "suburban": (68.0, 4.0), "highway": (118.0, 25.0)}
# kind -> (cruise km/h, km between stops)


@dataclass(slots=True)
class TripTrace:
    """Per-second arrays of one trip, from ignition on to ignition off."""

    speed: np.ndarray          # km/h
    distance: np.ndarray       # km since trip start (cumulative)
    accel: np.ndarray          # m/s^2
    moving_from: int           # index of the first moving second
    moving_to: int             # index after the last moving second


def _ramp(v_from: float, v_to: float, accel_ms2: float) -> np.ndarray:
    steps = max(1, int(abs(v_to - v_from) / (accel_ms2 * 3.6)))
    return np.linspace(v_from, v_to, steps + 1)[1:]


def drive_trace(rng: np.random.Generator, km: float, kind: str) -> TripTrace:
    """A plausible speed trace covering about ``km`` kilometres."""
    cruise, leg_km = CRUISE[kind]
    parts: list[np.ndarray] = []
    covered = 0.0
    while covered < km:
        target = max(20.0, float(rng.normal(cruise, cruise * 0.12)))
        up = _ramp(0.0, target, float(rng.uniform(1.5, 2.8)))
        down_a = 6.0 if rng.random() < 0.04 else float(rng.uniform(1.5, 3.0))  # rare harsh brake
        down = _ramp(target, 0.0, down_a)
        ramp_km = float((up.sum() + down.sum()) / 3600)
        leg = min(float(rng.exponential(leg_km)) + 0.2, km - covered)
        hold_s = max(0, int((leg - ramp_km) * 3600 / target))
        noise = np.cumsum(rng.normal(0, 0.6, hold_s)).clip(-8, 8)
        hold = np.clip(target + noise, 5.0, 200.0)
        stop = np.zeros(int(rng.integers(3, 40)) if covered + leg < km else 0)
        for piece in (up, hold, down, stop):
            parts.append(piece)
        covered += float((up.sum() + hold.sum() + down.sum()) / 3600)
    idle_start = np.zeros(int(rng.integers(4, 30)))
    idle_end = np.zeros(int(rng.integers(3, 12)))
    moving = np.concatenate(parts)
    speed = np.round(np.concatenate([idle_start, moving, idle_end]), 1)
    distance = np.cumsum(speed) / 3600.0
    distance = np.concatenate([[0.0], distance[:-1]])  # distance at the start of each second
    accel = np.round(np.diff(speed, prepend=0.0) / 3.6, 2)
    return TripTrace(speed, distance, accel, len(idle_start), len(idle_start) + len(moving))
