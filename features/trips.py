"""Trip segmentation: pure, over one vehicle's samples in time order (numpy arrays)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from decoders.catalog import load_catalog

_IGNITION = load_catalog().signals["Vehicle.LowVoltageSystemState"].values


def _code(state: str) -> float:
    """The stored code of an ignition state (its index in the catalog's enum)."""
    return float(_IGNITION.index(state))


IGN_OFF, IGN_ON, IGN_START, IGN_LOCK = _code("OFF"), _code("ON"), _code("START"), _code("LOCK")
IGNITION_OFF = (IGN_OFF, IGN_LOCK)  # stored codes that end a trip
MAX_PLAUSIBLE_KMH = 300.0
HARSH_MS2 = 3.5


@dataclass(frozen=True, slots=True)
class TripRules:
    """Configurable segmentation rules (defaults documented in docs/profiles.md)."""

    parking_s: float = 300.0        # a stop longer than this ends a trip
    gap_s: float = 900.0            # a data gap longer than this ends a trip
    min_km: float = 0.2             # shorter trips are dropped
    min_s: float = 60.0             # so are trips shorter than this


@dataclass(slots=True)
class Samples:
    """Columns of one vehicle's samples, sorted by ``ts`` (ms); NaN = not sampled."""

    ts: np.ndarray
    speed: np.ndarray
    odometer: np.ndarray
    ignition: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    accel: np.ndarray
    fuel: np.ndarray
    soc: np.ndarray
    charging: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(slots=True)
class Trip:
    """One derived trip."""

    start_ms: int
    end_ms: int
    km: float
    km_source: str                  # "odometer" or "gps"
    start_odometer: float | None
    end_odometer: float | None
    max_speed: float
    above_90_s: float
    harsh_brakes: int
    harsh_accels: int
    fuel_used_pct: float
    energy_used_pct: float
    excluded_deltas: int
    end_lat: float | None = None    # where the car was parked at the end
    end_lon: float | None = None
    rows: slice = field(repr=False, default_factory=lambda: slice(0))

    @property
    def duration_s(self) -> float:
        """Ignition on (or first movement) to ignition off (or stop)."""
        return (self.end_ms - self.start_ms) / 1000


def segment(s: Samples, rules: TripRules) -> tuple[list[Trip], int]:
    """Trips in ``s`` and the number of trips dropped as too short."""
    n = len(s)
    bounds: list[tuple[int, int]] = []
    start: int | None = None
    last_move: int | None = None
    prev_on = False
    ts, speed, ignition, odo = (a.tolist() for a in (s.ts, s.speed, s.ignition, s.odometer))
    for i in range(n):
        ign = ignition[i]
        on = ign in (IGN_ON, IGN_START)
        moving = speed[i] > 0
        if start is not None:
            if _breaks(ts, odo, i, rules):
                bounds.append((start, i - 1))
                start = None
            elif ign in IGNITION_OFF:
                bounds.append((start, i))
                start, prev_on = None, False
                continue
            elif moving:
                last_move = i
            elif (ts[i] - ts[last_move if last_move is not None else start]) / 1000 \
                    > rules.parking_s:
                bounds.append((start, last_move if last_move is not None else i))
                start = None
                prev_on = on
                continue
        if start is None and (moving or (on and not prev_on)):
            start, last_move = i, (i if moving else None)
        prev_on = on
    if start is not None:
        bounds.append((start, n - 1))
    trips = [_measure(s, a, b) for a, b in bounds]
    kept = [t for t in trips if t.km >= rules.min_km and t.duration_s >= rules.min_s]
    return kept, len(trips) - len(kept)


def _breaks(ts: list[float], odo: list[float], i: int, rules: TripRules) -> bool:
    """A data gap too long, or a shorter gap whose odometer does not add up."""
    gap_s = (ts[i] - ts[i - 1]) / 1000
    if gap_s > rules.gap_s:
        return True
    if gap_s > 30:
        a, b = odo[i - 1], odo[i]
        if a == a and b == b:  # neither is NaN
            return b < a or (b - a) > MAX_PLAUSIBLE_KMH * gap_s / 3600 + 0.05
    return False


def _runs(mask: np.ndarray) -> int:
    """Number of runs of True."""
    if not mask.any():
        return 0
    return int(np.count_nonzero(mask[1:] & ~mask[:-1]) + (1 if mask[0] else 0))


def _used(level: np.ndarray) -> float:
    v = level[~np.isnan(level)]
    if len(v) < 2:
        return 0.0
    d = np.diff(v)
    return float(-d[d < 0].sum())


def _measure(s: Samples, a: int, b: int) -> Trip:
    sl = slice(a, b + 1)
    ts = s.ts[sl]
    speed = s.speed[sl]
    odo = s.odometer[sl]
    valid = ~np.isnan(odo)
    km, excluded, source = 0.0, 0, "odometer"
    if valid.sum() >= 2:
        t_o, o = ts[valid], odo[valid]
        d = np.diff(o)
        limit = MAX_PLAUSIBLE_KMH * np.diff(t_o) / 3_600_000 + 0.05
        good = (d >= 0) & (d <= limit)
        km, excluded = float(d[good].sum()), int((~good).sum())
    else:
        km, source = _haversine_km(s.latitude[sl], s.longitude[sl]), "gps"
    dt = np.minimum(np.diff(ts, append=ts[-1]) / 1000, 10.0)
    sp = np.nan_to_num(speed, nan=0.0)
    acc = s.accel[sl]
    if np.isnan(acc).all():
        acc = np.diff(sp, prepend=sp[0]) / 3.6 / np.maximum(dt, 1.0)
    acc = np.nan_to_num(acc, nan=0.0)
    lat, lon = s.latitude[sl], s.longitude[sl]
    placed = np.nonzero(~(np.isnan(lat) | np.isnan(lon)))[0]
    return Trip(
        start_ms=int(ts[0]), end_ms=int(ts[-1]), km=round(km, 4), km_source=source,
        start_odometer=float(odo[valid][0]) if valid.any() else None,
        end_odometer=float(odo[valid][-1]) if valid.any() else None,
        max_speed=float(sp.max(initial=0.0)), above_90_s=float(dt[sp > 90].sum()),
        harsh_brakes=_runs(acc < -HARSH_MS2), harsh_accels=_runs(acc > HARSH_MS2),
        fuel_used_pct=round(_used(s.fuel[sl]), 3), energy_used_pct=round(_used(s.soc[sl]), 3),
        excluded_deltas=excluded, rows=sl,
        end_lat=float(lat[placed[-1]]) if len(placed) else None,
        end_lon=float(lon[placed[-1]]) if len(placed) else None,
    )


def _haversine_km(lat: np.ndarray, lon: np.ndarray) -> float:
    ok = ~(np.isnan(lat) | np.isnan(lon))
    if ok.sum() < 2:
        return 0.0
    la, lo = np.radians(lat[ok]), np.radians(lon[ok])
    h = np.sin(np.diff(la) / 2) ** 2 \
        + np.cos(la[:-1]) * np.cos(la[1:]) * np.sin(np.diff(lo) / 2) ** 2
    return float((2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))).sum())


def night_seconds(ts: np.ndarray, utc_offset_s: float) -> float:
    """Seconds between 22:00 and 05:00 local time, from row timestamps (ms)."""
    if len(ts) < 2:
        return 0.0
    local_h = ((ts / 1000 + utc_offset_s) % 86_400) / 3600
    dt = np.minimum(np.diff(ts, append=ts[-1]) / 1000, 10.0)
    return float(dt[(local_h >= 22) | (local_h < 5)].sum())


def energy_events(s: Samples, first_ms: int) -> list[tuple[int, str]]:
    """Refuels (fuel up 10+ points between readings) and charging sessions (IsCharging
    rising edge) at or after ``first_ms``, as ``(t_ms, "refuel" | "charge")``."""
    out: list[tuple[int, str]] = []
    ok = ~np.isnan(s.fuel)
    t, v = s.ts[ok], s.fuel[ok]
    out += [(int(t[j + 1]), "refuel") for j in np.nonzero(np.diff(v) >= 10.0)[0]]
    ok = ~np.isnan(s.charging)
    t, c = s.ts[ok], s.charging[ok]
    out += [(int(t[j + 1]), "charge") for j in np.nonzero((c[1:] > 0) & (c[:-1] == 0))[0]]
    return sorted(e for e in out if e[0] >= first_ms)
