"""One trip at 1 Hz: a speed profile whose integral is the odometer, plus idle at both ends."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HARSH_INTENDED = 5.0  # m/s^2: a braking ramp this hard is a hard braking the trace means
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
    harsh: list[tuple[int, int]]  # [first, last] index of each intended hard braking


def _ramp(v_from: float, v_to: float, accel_ms2: float, at_least: bool = False) -> np.ndarray:
    """Speeds from ``v_from`` (excluded) to ``v_to`` in whole seconds, changing by at most
    ``accel_ms2`` each second (``at_least``: by at least that much, for a hard braking)."""
    exact = abs(v_to - v_from) / (accel_ms2 * 3.6)
    steps = max(1, int(exact) if at_least else math.ceil(exact))
    return np.linspace(v_from, v_to, steps + 1)[1:]


def drive_trace(rng: np.random.Generator, km: float, kind: str) -> TripTrace:
    """A plausible speed trace covering about ``km`` kilometres."""
    cruise, leg_km = CRUISE[kind]
    parts: list[np.ndarray] = []
    harsh: list[tuple[int, int]] = []
    at = 0  # index of the next moving second
    covered = 0.0
    while covered < km:
        target = max(20.0, float(rng.normal(cruise, cruise * 0.12)))
        up = _ramp(0.0, target, float(rng.uniform(1.5, 2.8)))
        down_a = 6.0 if rng.random() < 0.04 else float(rng.uniform(1.5, 3.0))  # rare harsh brake
        leg = min(float(rng.exponential(leg_km)) + 0.2, km - covered)
        ramp_km = float((up.sum() + _ramp(target, 0.0, down_a).sum()) / 3600)
        hold_s = max(0, int((leg - ramp_km) * 3600 / target))
        # speed drifts while holding, by less than a km/h per second: no step in the trace
        # (a jump of several km/h within a second would read as hard braking or accelerating)
        noise = np.cumsum(rng.normal(0, 0.6, hold_s)).clip(-8, 8)
        hold = np.clip(target + noise, 5.0, 200.0)
        # braking starts from the speed actually held; a hard one from 25 km/h or more
        v_brake = float(hold[-1]) if hold_s else target
        hard = down_a > HARSH_INTENDED and v_brake >= 25.0
        down = _ramp(v_brake, 0.0, down_a if hard else min(down_a, 3.0), hard)
        stop = np.zeros(int(rng.integers(3, 40)) if covered + leg < km else 0)
        if hard:
            first = at + len(up) + len(hold)
            harsh.append((first, first + len(down) - 1))
        for piece in (up, hold, down, stop):
            parts.append(piece)
            at += len(piece)
        covered += float((up.sum() + hold.sum() + down.sum()) / 3600)
    idle_start = np.zeros(int(rng.integers(4, 30)))
    idle_end = np.zeros(int(rng.integers(3, 12)))
    moving = np.concatenate(parts)
    speed = np.round(np.concatenate([idle_start, moving, idle_end]), 1)
    distance = np.cumsum(speed) / 3600.0
    distance = np.concatenate([[0.0], distance[:-1]])  # distance at the start of each second
    accel = np.round(np.diff(speed, prepend=0.0) / 3.6, 2)
    shift = len(idle_start)
    return TripTrace(speed, distance, accel, shift, shift + len(moving),
                     [(a + shift, b + shift) for a, b in harsh])
