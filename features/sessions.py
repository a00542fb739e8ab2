"""Charging and refuelling sessions, found in one vehicle's level samples (pure, numpy).

A **charging session** is a run of samples reporting ``IsCharging`` true that follows a
sample reporting false (samples without the flag neither start nor end a run). It starts at
its first charging sample and ends at its last; its start level is the last state of charge
reported before the run (the level the car was plugged in at), its end level the last one
reported inside it. The current is ``DC`` when a sample of the run reports a DC charging
current above zero, ``AC`` when one reports a phase-1 AC current, otherwise unknown.

A **refuel** is a rise of the fuel level by at least ``REFUEL_POINTS`` between two
consecutive fuel readings: it happened between the two (``start`` is the reading before,
``end`` the one that shows the fuller tank).

The energy and volume added come from the level difference and the model's usable battery
and tank capacity (``features/data/models.json``); see ``features/session_store.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REFUEL_POINTS = 10.0
HOME_RADIUS_M = 250.0  # a session this close to the owner's registered home is at home


@dataclass(frozen=True, slots=True)
class LevelSamples:
    """One vehicle's samples in time order (ms); NaN where a signal was not reported."""

    ts: np.ndarray
    fuel: np.ndarray
    soc: np.ndarray
    charging: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    dc_amps: np.ndarray
    ac_amps: np.ndarray


@dataclass(frozen=True, slots=True)
class Session:
    """One charging session or refuel."""

    kind: str                   # "charge" or "refuel"
    start_ms: int
    end_ms: int
    start_level: float | None   # % of the battery or tank
    end_level: float | None
    lat: float | None           # where the car stood (the last fix at the start or refuel)
    lon: float | None
    current: str | None         # "AC", "DC" or None (not reported); refuels: None
    complete: bool              # a later sample shows the session over


def _last_before(ts: np.ndarray, values: np.ndarray, t_ms: int, inclusive: bool
                 ) -> float | None:
    ok = ~np.isnan(values) & ((ts <= t_ms) if inclusive else (ts < t_ms))
    idx = np.nonzero(ok)[0]
    return float(values[idx[-1]]) if len(idx) else None


def _position(s: LevelSamples, t_ms: int) -> tuple[float | None, float | None]:
    ok = ~np.isnan(s.lat) & ~np.isnan(s.lon) & (s.ts <= t_ms)
    idx = np.nonzero(ok)[0]
    if not len(idx):
        return None, None
    return float(s.lat[idx[-1]]), float(s.lon[idx[-1]])


def charging_sessions(s: LevelSamples) -> list[Session]:
    """Every charging run of ``s`` that follows a not-charging sample."""
    idx = np.nonzero(~np.isnan(s.charging))[0]
    flag = s.charging[idx] > 0
    out = []
    k = 1
    while k < len(idx):
        if not flag[k] or flag[k - 1]:
            k += 1
            continue
        end = k
        while end + 1 < len(idx) and flag[end + 1]:
            end += 1
        t0, t1 = int(s.ts[idx[k]]), int(s.ts[idx[end]])
        inside = (s.ts >= t0) & (s.ts <= t1)
        current = ("DC" if np.nansum(s.dc_amps[inside] > 0) else
                   "AC" if np.nansum(s.ac_amps[inside] > 0) else None)
        lat, lon = _position(s, t0)
        out.append(Session("charge", t0, t1, _last_before(s.ts, s.soc, t0, False),
                           _last_before(s.ts, s.soc, t1, True), lat, lon, current,
                           end + 1 < len(idx)))
        k = end + 1
    return out


def refuels(s: LevelSamples) -> list[Session]:
    """Every rise of the fuel level by ``REFUEL_POINTS`` or more between two readings."""
    ok = ~np.isnan(s.fuel)
    t, v = s.ts[ok], s.fuel[ok]
    out = []
    for j in np.nonzero(np.diff(v) >= REFUEL_POINTS)[0]:
        lat, lon = _position(s, int(t[j + 1]))
        out.append(Session("refuel", int(t[j]), int(t[j + 1]), float(v[j]), float(v[j + 1]),
                           lat, lon, None, True))
    return out
