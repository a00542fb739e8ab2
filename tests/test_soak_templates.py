"""The soak's payloads: the simulator's messages with the car, sequence and times patched in
place must decode, in every wire format, exactly as if they had been made for that car."""

from __future__ import annotations

import pytest

from benchmarks.soak_load import fleet_rate
from benchmarks.soak_templates import TEMPLATE_SEQ, CarTemplates, make_templates, vin
from decoders.registry import decode_message
from simulator.wire import WIRES

NEWEST = 1_800_000_123_000


@pytest.fixture(scope="module")
def templates() -> dict[str, CarTemplates]:
    return make_templates(windows=3)


@pytest.mark.parametrize("wire", WIRES)
def test_rendered_windows_decode_with_the_car_sequence_and_times(
        templates: dict[str, CarTemplates], wire: str) -> None:
    ct = templates[wire]
    car = vin(424_242)
    for window in [*ct.drive, ct.heartbeat]:
        newest = []
        for i, tpl in enumerate(window):
            payload = tpl.render(car.encode(), 70, NEWEST)
            got = decode_message(f"vehicles/{car}/{tpl.suffix}", payload, NEWEST + 5000, ct.model)
            assert not got.rejections, got.rejections
            assert (got.vin, got.seq) == (car, TEMPLATE_SEQ + 70 + i)
            newest += got.ts_ms + [e.t_ms for e in got.events]
        # the window's newest sample is the moment it is due; the rest keep their spacing
        assert max(newest) == NEWEST
        assert min(newest) >= NEWEST - 10_000


def test_a_window_rendered_twice_for_two_cars_differs_only_in_the_car(
        templates: dict[str, CarTemplates]) -> None:
    tpl = templates["msgpack"].drive[0][0]
    a = tpl.render(vin(1).encode(), 5, NEWEST)
    b = tpl.render(vin(2).encode(), 5, NEWEST)
    assert a != b and a.replace(vin(1).encode(), vin(2).encode()) == b


def test_fleet_rate_counts_windows_heartbeats_and_protobuf_records() -> None:
    # 1,000 cars, none driving: a heartbeat each per 15 minutes
    assert fleet_rate(1000, 0.0) == pytest.approx(1000 / 900)
    # all driving: a window per 10 s, 5 % of the cars send theirs as ten records
    assert fleet_rate(1000, 1.0) == pytest.approx(1000 * 0.1 * (0.95 + 0.05 * 10))
