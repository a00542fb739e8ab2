"""The odometer check computed for a whole batch at once equals the row-by-row rule: a
reading below the vehicle's running maximum is flagged, a late row (older than the stored
reading) is neither flagged nor counted, the newest accepted reading becomes the stored one."""

from __future__ import annotations

import random
from copy import deepcopy

import numpy as np
import pytest

from timeseries.rows import FLAG_ODOMETER_BACKWARDS, SampleRows, flag_odometer
from timeseries.vehicles import VehicleState


def row_by_row(rows: SampleRows, column: int, states: dict[int, VehicleState]) -> None:
    """The rule as first written: one row at a time."""
    odo = rows.values[:, column]
    for k in np.flatnonzero(~np.isnan(odo)).tolist():
        state, t, km = states[int(rows.vid[k])], int(rows.ts_ms[k]), float(odo[k])
        if state.odometer_at_ms is None or t >= state.odometer_at_ms:
            if state.odometer_km is not None and km < state.odometer_km:
                rows.flags[k] |= FLAG_ODOMETER_BACKWARDS
            else:
                state.odometer_km, state.odometer_at_ms = km, t


def batch(rng: random.Random) -> tuple[SampleRows, dict[int, VehicleState]]:
    keys = sorted({(rng.randrange(1, 6), rng.randrange(0, 60))
                   for _ in range(rng.randrange(1, 40))})
    values = np.full((len(keys), 3), np.nan)
    for i in range(len(keys)):
        if rng.random() < 0.8:
            values[i, 1] = rng.choice([100.0, 100.5, 101.0, 99.25, 102.0, 0.0, 1e6 + 0.001])
    states = {v: VehicleState(v, rng.choice([None, 100.0, 101.0, 99.0]),
                              rng.choice([None, -5, 10, 30, 80])) for v in range(1, 6)}
    for s in states.values():
        if (s.odometer_km is None) != (s.odometer_at_ms is None):
            s.odometer_km, s.odometer_at_ms = None, None
    return SampleRows(np.array([v for v, _ in keys], np.int32),
                      np.array([t for _, t in keys], np.int64),
                      np.zeros(len(keys), np.int16), values), states


@pytest.mark.parametrize("seed", range(300))
def test_the_batch_check_equals_the_row_by_row_rule(seed: int) -> None:
    rows, states = batch(random.Random(seed))
    expected_rows, expected_states = deepcopy(rows), deepcopy(states)
    row_by_row(expected_rows, 1, expected_states)
    flag_odometer(rows, 1, states)
    assert rows.flags.tolist() == expected_rows.flags.tolist()
    assert {v: (s.odometer_km, s.odometer_at_ms) for v, s in states.items()} == \
        {v: (s.odometer_km, s.odometer_at_ms) for v, s in expected_states.items()}
