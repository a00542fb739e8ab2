"""The large-fleet loads generate vehicles in several processes: the result must be the
one-process stream and truth, message for message."""

from __future__ import annotations

from datetime import date

from simulator.fleet import make_fleet
from simulator.stream import Faults
from tests.direct_ingest import generate


def test_generation_in_processes_equals_one_process() -> None:
    start = date(2026, 3, 2)
    specs = make_fleet(7, 3, start, 11, new_share=0.4, can_share=0.2, pb_share=0.2)
    faults = Faults(duplicates=0.05, reorder=0.05, gaps=0.02)
    one, one_truth = generate(specs, start, 3, 11, 900, faults, 10, parallel_from=10**6)
    many, many_truth = generate(specs, start, 3, 11, 900, faults, 10, parallel_from=1)
    assert len(one) > 500
    assert [(m.send_ms, m.order, m.topic, m.payload) for m in many] == \
        [(m.send_ms, m.order, m.topic, m.payload) for m in one]
    assert many_truth.to_json() == one_truth.to_json()
    assert sum(one_truth.faults.values()) > 0
