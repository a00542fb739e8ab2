"""Trip segmentation rules, on hand-made sample arrays (pure logic)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from features.trips import IGN_OFF, IGN_ON, IGN_START, Samples, TripRules, energy_events, segment

NAN = float("nan")


def samples(rows: Sequence[tuple[float, ...]]) -> Samples:
    """rows of (t_s, speed, odometer, ignition[, fuel, charging, lat, lon])."""
    cols = list(zip(*[(*r, *([NAN] * (8 - len(r)))) for r in rows], strict=True))
    n = len(rows)
    nan = np.full(n, NAN)
    return Samples(ts=np.array(cols[0], dtype=np.int64) * 1000, speed=np.array(cols[1]),
                   odometer=np.array(cols[2]), ignition=np.array(cols[3]),
                   latitude=np.array(cols[6]), longitude=np.array(cols[7]), accel=nan,
                   fuel=np.array(cols[4]), soc=nan, charging=np.array(cols[5]))


def drive(t0: int, seconds: int, kmh: float, odo0: float) -> list[tuple[float, ...]]:
    """Ignition START, ``seconds`` at ``kmh``, ignition OFF."""
    rows: list[tuple[float, ...]] = [(t0, 0.0, odo0, IGN_START)]
    odo = odo0
    for i in range(1, seconds + 1):
        rows.append((t0 + i, kmh, round(odo, 6), IGN_ON))
        odo += kmh / 3600
    rows.append((t0 + seconds + 1, 0.0, round(odo, 6), IGN_OFF))
    return rows


def test_ignition_on_to_off_is_one_trip_with_odometer_distance() -> None:
    trips, dropped = segment(samples(drive(0, 600, 60.0, 1000.0)), TripRules())
    assert dropped == 0
    (t,) = trips
    assert (t.start_ms, t.end_ms, t.km_source) == (0, 601_000, "odometer")
    assert abs(t.km - 10.0) < 1e-3
    assert t.max_speed == 60.0


def test_parked_rows_between_trips_split_them() -> None:
    rows = [*drive(0, 300, 50.0, 10.0), (900, NAN, 14.2, IGN_OFF), *drive(1800, 300, 50.0, 14.2)]
    trips, _ = segment(samples(rows), TripRules())
    assert [t.start_ms for t in trips] == [0, 1_800_000]


def test_stop_longer_than_parking_time_ends_trip_without_ignition_data() -> None:
    moving = [(i, 40.0, 5 + i * 40 / 3600, NAN) for i in range(200)]
    stopped = [(200 + i * 10, 0.0, 5 + 200 * 40 / 3600, NAN) for i in range(40)]  # 400 s
    again = [(600 + i, 40.0, 5 + (200 + i) * 40 / 3600, NAN) for i in range(200)]
    trips, _ = segment(samples(moving + stopped + again), TripRules())
    assert [(t.start_ms, t.end_ms) for t in trips] == [(0, 199_000), (600_000, 799_000)]


def test_short_gap_with_consistent_odometer_does_not_split() -> None:
    rows = drive(0, 600, 60.0, 100.0)
    del rows[100:160]  # 60 s without data, odometer consistent on both sides
    trips, _ = segment(samples(rows), TripRules())
    assert len(trips) == 1 and abs(trips[0].km - 10.0) < 1e-3


def test_long_gap_splits_and_odometer_going_backwards_is_excluded() -> None:
    rows = drive(0, 600, 60.0, 100.0)
    gap = [(r[0] + 2000, *r[1:]) for r in drive(0, 600, 60.0, 110.0)]
    trips, _ = segment(samples(rows + gap), TripRules())
    assert len(trips) == 2
    rows = drive(0, 600, 60.0, 100.0)
    rows[300] = (rows[300][0], 60.0, 50.0, IGN_ON)  # one bad reading
    (t,) = segment(samples(rows), TripRules())[0]
    assert t.excluded_deltas == 2 and 9.9 < t.km < 10.01  # never negative


def test_too_short_trips_are_dropped_and_counted() -> None:
    rows = [(0, 0.0, 5.0, IGN_START), (10, 0.0, 5.0, IGN_ON), (20, 0.0, 5.0, IGN_OFF)]
    trips, dropped = segment(samples(rows), TripRules())
    assert (trips, dropped) == ([], 1)


def test_gps_distance_when_there_is_no_odometer() -> None:
    rows = [(i, 36.0, NAN, IGN_ON, NAN, NAN, 52.0 + i * 0.0001, 13.0) for i in range(101)]
    (t,) = segment(samples(rows), TripRules())[0]
    assert t.km_source == "gps" and abs(t.km - 1.112) < 0.01  # 0.01 deg latitude


def test_refuels_and_charging_sessions() -> None:
    rows = [(0, NAN, 1.0, IGN_OFF, 12.0, 0.0), (900, NAN, 1.0, IGN_OFF, 100.0, 1.0),
            (1800, NAN, 1.0, IGN_OFF, 99.0, 1.0), (2700, NAN, 1.0, IGN_OFF, 99.0, 0.0)]
    assert energy_events(samples(rows), 0) == [(900_000, "charge"), (900_000, "refuel")]
    assert energy_events(samples(rows), 1_000_000) == []
