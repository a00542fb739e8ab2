"""A batch's sample rows as numpy arrays: assembled from readings, one row per (vehicle,
timestamp) with the first value of each signal winning, odometer regressions flagged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from decoders.readings import Readings
from timeseries.vehicles import VehicleState

FLAG_ODOMETER_BACKWARDS = 1
INT64_MIN = np.iinfo(np.int64).min


@dataclass(slots=True)
class SampleRows:
    """Rows sorted by (vehicle, timestamp); ``values`` has one column per catalog signal,
    NaN where a row has no value (decoders reject NaN, so it cannot be a reading)."""

    vid: np.ndarray     # int32
    ts_ms: np.ndarray   # int64
    flags: np.ndarray   # int16
    values: np.ndarray  # float64, shape (rows, signals)

    def __len__(self) -> int:
        return len(self.vid)


def assemble(parts: Sequence[tuple[int, Readings]], column_index: Mapping[str, int],
             width: int) -> SampleRows:
    """The rows of ``parts`` (vehicle id, readings), in arrival order of the batch."""
    counts = [len(r.ts_ms) for _, r in parts]
    total = sum(counts)
    vid = np.repeat(np.array([v for v, _ in parts], np.int32), counts)
    ts = np.fromiter(chain.from_iterable(r.ts_ms for _, r in parts), np.int64, total)
    values = np.full((total, width), np.nan)
    shapes: dict[tuple[str, ...], list[int]] = {}  # messages with the same signals
    for i, (_, r) in enumerate(parts):
        if r.signals and counts[i]:
            shapes.setdefault(tuple(r.signals), []).append(i)
    owner = np.repeat(np.arange(len(parts)), counts)  # the message of each row
    for signals, members in shapes.items():
        block = np.concatenate([parts[i][1].values for i in members], axis=1).T
        cols = [column_index[c] for c in signals]
        if len(members) == len(parts):
            values[:, cols] = block
        else:
            values[np.flatnonzero(np.isin(owner, members))[:, None], cols] = block
    order = np.lexsort((ts, vid))  # stable: rows with the same key keep arrival order
    vid, ts, values = vid[order], ts[order], values[order]
    repeat = (vid[1:] == vid[:-1]) & (ts[1:] == ts[:-1])
    if repeat.any():
        vid, ts, values = _merge(vid, ts, values, repeat)
    keep = ~np.isnan(values).all(axis=1)
    if not keep.all():
        vid, ts, values = vid[keep], ts[keep], values[keep]
    return SampleRows(vid, ts, np.zeros(len(vid), np.int16), values)


def _merge(vid: np.ndarray, ts: np.ndarray, values: np.ndarray, repeat: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse runs of one key; a later row only fills the signals earlier rows lack."""
    first = np.concatenate(([True], ~repeat))
    starts = np.flatnonzero(first)
    run = np.cumsum(first) - 1
    out = values[starts]
    for row in np.flatnonzero(~first).tolist():  # rare: two messages with one timestamp
        gap = np.isnan(out[run[row]])
        out[run[row], gap] = values[row, gap]
    return vid[starts], ts[starts], out


def flag_odometer(rows: SampleRows, column: int, states: Mapping[int, VehicleState]) -> None:
    """Flag readings below the vehicle's running maximum and advance ``states``. Rows older
    than the vehicle's latest stored reading (late data) are neither flagged nor counted.

    Rows are sorted by (vehicle, time) and a time appears once per vehicle, so the maximum
    before a row is the vehicle's stored reading or the largest earlier one of the batch: a
    running maximum per vehicle, computed at once on the readings' ranks (exact integers),
    each vehicle in a band of its own so that one running maximum serves them all."""
    odo = rows.values[:, column]
    has = np.flatnonzero(~np.isnan(odo))
    if not len(has):
        return
    vid, t, km = rows.vid[has], rows.ts_ms[has], odo[has]
    first = np.flatnonzero(np.append(True, vid[1:] != vid[:-1]))  # each vehicle's first row
    starts = np.zeros(len(vid), bool)
    starts[first] = True
    group = np.cumsum(starts) - 1
    vehicles = [states[v] for v in vid[first].tolist()]
    at0 = np.array([INT64_MIN if s.odometer_at_ms is None else s.odometer_at_ms
                    for s in vehicles], np.int64)
    km0 = np.array([np.nan if s.odometer_km is None else s.odometer_km for s in vehicles])
    live = np.flatnonzero(t >= at0[group])  # late rows: neither flagged nor counted
    if not len(live):
        return
    g, km = group[live], km[live]
    ranks = np.unique(np.concatenate([km, km0[~np.isnan(km0)]]), return_inverse=True)[1] + 1
    band = len(ranks) + 2
    key = g * band + ranks[:len(km)]
    start = np.zeros(len(vehicles), np.int64)  # no stored reading: rank 0, below every one
    start[~np.isnan(km0)] = ranks[len(km):]
    start += np.arange(len(vehicles)) * band
    before = np.empty(len(key), np.int64)
    before[0] = -1
    before[1:] = np.maximum.accumulate(key)[:-1]
    np.maximum(before, start[g], out=before)  # the earlier rows of another vehicle are below
    flagged = key < before
    rows.flags[has[live[flagged]]] |= FLAG_ODOMETER_BACKWARDS
    kept = np.flatnonzero(~flagged)
    if len(kept):
        last = kept[np.append(g[kept][1:] != g[kept][:-1], True)]  # each vehicle's newest
        for i, k, ts in zip(g[last].tolist(), km[last].tolist(), t[live][last].tolist(),
                            strict=True):
            vehicles[i].odometer_km, vehicles[i].odometer_at_ms = k, ts


def hours_touched(rows: SampleRows, hour_ms: int) -> set[tuple[int, int]]:
    """The distinct (vehicle, hour) pairs of the rows."""
    keys = np.unique((rows.vid.astype(np.int64) << 32) | (rows.ts_ms // hour_ms))
    return set(zip((keys >> 32).tolist(), (keys & 0xFFFFFFFF).tolist(), strict=True))


def latest_per_vehicle(rows: SampleRows) -> dict[int, int]:
    """Vehicle id -> newest row timestamp (rows are sorted by vehicle, then time)."""
    if not len(rows):
        return {}
    last = np.flatnonzero(np.append(rows.vid[1:] != rows.vid[:-1], True))
    return dict(zip(rows.vid[last].tolist(), rows.ts_ms[last].tolist(), strict=True))
