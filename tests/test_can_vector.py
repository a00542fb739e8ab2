"""The batch CAN decoder against the DBC library's, frame by frame: on generated DBC files of
every layout, on the shipped DBCs with the simulator's frames, and on real makers' DBCs,
the two must agree exactly (values, instants, counts, rejections), and the batch decoder
must take the clean batches itself rather than hand them over."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from decoders import can_v1
from decoders.can_dbc import CanModel, load_can_models
from decoders.can_template import decode_known, remember
from decoders.can_vector import decode_batch, table_for
from decoders.errors import Rejected
from decoders.readings import DecodeContext, Readings
from tests.can_generator import make_frames, make_messages, map_signals, write_model
from tests.test_real_dbc import MAKERS, frame_for, raw_edges, write_models

VIN = "WDB00000000000001"


def _summary(readings: Readings) -> tuple[Any, ...]:
    return (readings.vin, readings.seq, readings.t0_ms, readings.ts_ms, readings.signals,
            [[None if v != v else v for v in row] for row in readings.values.tolist()],
            readings.value_count, readings.unknown_frames, readings.unavailable_values,
            [(r.code, r.detail) for r in readings.rejections])


def _reference(doc: dict[str, Any], model: CanModel, ctx: DecodeContext) -> tuple[Any, ...]:
    try:
        return _summary(can_v1.decode_reference(doc, doc["frames"], model, ctx))
    except Rejected as exc:
        return ("rejected", exc.rejection.code, exc.rejection.detail)


def compare(model: CanModel, frames: list[list[Any]], now: int, accepted: bool = False
            ) -> bool:
    """Assert the batch decoder equals the reference on ``frames``; True when it decoded
    the batch itself. ``accepted``: the batch is clean, so the batch decoder must take it
    unless the reference rejects it whole (a batch without any value). The same batch read
    from its bytes through its shape's template, and a batch of the same shape with other
    times and data, must equal the reference too."""
    ctx = DecodeContext(f"vehicles/{VIN}/can", VIN, now)
    doc = {"v": 1, "vin": VIN, "seq": 1, "frames": frames}
    fast = decode_batch(doc, frames, model, ctx)
    reference = _reference(doc, model, ctx)
    if fast is None:
        assert not accepted or reference[0] == "rejected", reference
        return False
    assert _summary(fast) == reference, frames
    table = table_for(model)
    table.templates.clear()
    payload = msgpack.packb(doc)
    remember(payload, frames, table)
    assert not table.templates  # a shape is remembered the second time it is seen
    remember(payload, frames, table)
    from_bytes = decode_known(payload, table, ctx)
    if from_bytes is not None:
        assert _summary(from_bytes) == reference, frames
    elif accepted and all(2**32 <= f[0] < 2**63 for f in frames):  # template-shaped batch
        assert not table.templates, "a clean batch's shape is remembered and then read"
    _same_shape(model, doc, ctx)
    return True


def _same_shape(model: CanModel, doc: dict[str, Any], ctx: DecodeContext) -> None:
    """A batch of ``doc``'s shape with other data, times and sequence number, read through
    the template: equal to the reference, or declined (None) where that is not certain."""
    rng = random.Random(len(doc["frames"]))
    shift = rng.choice([1, 10, 1000])
    frames = [[t + shift, i, rng.randbytes(len(d))] for t, i, d in doc["frames"]]
    other = {**doc, "seq": 70_000, "frames": frames}
    known = decode_known(msgpack.packb(other), table_for(model), ctx)
    if known is not None:
        assert _summary(known) == _reference(other, model, ctx), frames


def _generated(seed: int, directory: Path, clean: bool
               ) -> tuple[random.Random, list[Any], CanModel]:
    rng = random.Random(seed)
    messages = make_messages(rng, rng.randint(3, 8))
    mapping = map_signals(rng, messages, clean)
    directory.mkdir()
    return rng, messages, load_can_models(str(write_model(directory, messages, mapping))).default


@pytest.mark.parametrize("seed", range(12))
def test_generated_dbcs_decode_exactly_as_the_dbc_library(seed: int, tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    rng, messages, model = _generated(seed, tmp_path / "clean", True)
    table = table_for(model)
    assert len(table.ids) + len(table.reference_only) == len(messages)
    clean = [compare(model, make_frames(rng, messages, now, True), now,
                     not table.reference_only) for _ in range(100)]
    assert sum(clean) >= 50 or table.reference_only
    for _ in range(100):
        compare(model, make_frames(rng, messages, now, False), now)
    rng, messages, model = _generated(seed, tmp_path / "any", False)
    for _ in range(200):
        compare(model, make_frames(rng, messages, now, False), now)


def test_generated_dbcs_mostly_compile(tmp_path: Path) -> None:
    compiled = total = 0
    for seed in range(100, 140):
        _, messages, model = _generated(seed, tmp_path / str(seed), True)
        compiled += len(table_for(model).ids)
        total += len(messages)
    assert compiled >= 0.7 * total, f"{compiled} of {total} messages compiled"


def test_every_layout_is_generated() -> None:
    rng = random.Random(7)
    signals = [s for _ in range(20) for m in make_messages(rng, 8) for s in m.signals]
    assert {s.big_endian for s in signals} == {True, False}
    assert {s.signed for s in signals} == {True, False}
    assert {s.mux[:1] for s in signals} == {"", "M", "m"}
    assert max(s.length for s in signals) > 40 and min(s.length for s in signals) == 1


def test_shipped_dbcs_with_the_simulators_frames() -> None:
    from simulator.wire import can_frames
    now = int(time.time() * 1000)
    rng = random.Random(3)
    for model_name in ("Aurora 1.5T", "Volta EV"):
        model = load_can_models().for_model(model_name)
        assert not table_for(model).reference_only
        for _ in range(50):
            t = now - 3_600_000
            rows = []
            for _ in range(rng.randint(1, 20)):
                t += 1000
                rows.append((t, {
                    "Vehicle.TraveledDistance": round(rng.uniform(0, 400_000), 3),
                    "Vehicle.Speed": round(rng.uniform(0, 200), 1),
                    "Vehicle.CurrentLocation.Latitude": round(rng.uniform(-89, 89), 6),
                    "Vehicle.CurrentLocation.Longitude": round(rng.uniform(-179, 179), 6),
                    "Vehicle.LowVoltageSystemState": rng.choice(["OFF", "ON", "START"]),
                    "Vehicle.Exterior.AirTemperature": round(rng.uniform(-30, 45), 1)}))
            assert compare(model, can_frames(rows, model_name), now, True)


@pytest.mark.parametrize("maker", MAKERS, ids=lambda m: m.dbc)
def test_real_makers_dbcs_at_their_edge_values(maker: Any, tmp_path: Path) -> None:
    model = load_can_models(str(write_models(tmp_path))).for_model(maker.model)
    table = table_for(model)
    now = int(time.time() * 1000)
    rng = np.random.default_rng(5)
    checked = 0
    for frame_id, message in model.messages.items():
        mapped = [s for s in message.signals if s.name in maker.signals]
        if not mapped:
            continue
        frames: list[list[Any]] = []
        t = now - 600_000
        for signal in mapped:
            for raw in raw_edges(signal):
                t += 10
                frames.append([t, frame_id, frame_for(message, signal.name, raw)])
        for _ in range(40):
            t += 10
            frames.append([t, frame_id, bytes(rng.integers(0, 256, message.length,
                                                           dtype=np.uint8))])
        ctx = DecodeContext(f"vehicles/{VIN}/can", VIN, now)
        doc = {"v": 1, "vin": VIN, "seq": 1, "frames": frames}
        if frame_id in table.reference_only:
            assert decode_batch(doc, frames, model, ctx) is None
            continue
        got = compare(model, frames, now)
        single = [compare(model, [f], now) for f in frames]
        checked += got + sum(single)
    assert checked > 0


def test_a_pattern_of_instants_is_planned_once_and_each_pattern_decodes_exactly() -> None:
    """Batches with the same frame ids reuse one plan per pattern of shared instants; a new
    pattern (an instant repeated, frames spread) gets its own, and every batch still equals
    the reference."""
    from decoders.can_layout import layout_for
    from simulator.wire import can_frames
    now = int(time.time() * 1000)
    model = load_can_models().for_model("Volta EV")
    row = {"Vehicle.TraveledDistance": 1234.5, "Vehicle.Speed": 50.0,
           "Vehicle.CurrentLocation.Latitude": 48.1, "Vehicle.CurrentLocation.Longitude": 11.5,
           "Vehicle.LowVoltageSystemState": "ON", "Vehicle.Exterior.AirTemperature": 4.5}
    base = [list(f) for f in can_frames([(now - 60_000, row), (now - 59_000, row)],
                                        "Volta EV")]
    layout = layout_for(table_for(model), tuple(f[1] for f in base))
    assert layout is not None
    layout.plans.clear()
    spread = [[now - 50_000 + 10 * i, i_d, data] for i, (_, i_d, data) in enumerate(base)]
    one_instant = [[now - 40_000, i_d, data] for _, i_d, data in base]
    for frames, plans in ((base, 1), ([[t + 5, i, d] for t, i, d in base], 1),
                          (spread, 2), (one_instant, 3), (base, 3)):
        assert compare(model, frames, now, True)
        assert len(layout.plans) == plans
    assert len(base) == 4 and len({f[0] for f in base}) == 2  # two frames per instant


def test_a_known_shape_is_read_from_its_bytes_only_when_the_bytes_prove_it() -> None:
    """After a batch of a shape, a batch of that shape is read through its template (other
    sequence number, so another header length); a changed id, frames that are not the map's
    last entry, a second ``frames`` key, trailing bytes or another version are not taken by
    the template, and every one decodes as the unpacked document says."""
    from simulator.wire import can_frames
    now = int(time.time() * 1000)
    model = load_can_models().for_model("Volta EV")
    table = table_for(model)
    table.templates.clear()
    row = {"Vehicle.TraveledDistance": 1234.5, "Vehicle.Speed": 50.0,
           "Vehicle.CurrentLocation.Latitude": 48.1, "Vehicle.CurrentLocation.Longitude": 11.5,
           "Vehicle.LowVoltageSystemState": "ON", "Vehicle.Exterior.AirTemperature": 4.5}
    frames = can_frames([(now - 60_000, row), (now - 59_000, row)], "Volta EV")
    ctx = DecodeContext(f"vehicles/{VIN}/can", VIN, now, "Volta EV")

    def packed(**doc: Any) -> bytes:
        payload: bytes = msgpack.packb({"v": 1, "vin": VIN, "seq": 1, "frames": frames, **doc})
        return payload

    def decoded(payload: bytes) -> tuple[Any, ...]:
        try:
            return _summary(can_v1.decode(payload, ctx))
        except Rejected as exc:
            return ("rejected", exc.rejection.code)

    first = decoded(packed())
    assert not table.templates and decoded(packed()) == first
    assert table.templates and first[0] == VIN
    later = [[t + 5_000, i, d] for t, i, d in frames]
    other = packed(seq=123_456, frames=later)
    known = decode_known(other, table, ctx)
    assert known is not None and known.seq == 123_456
    assert _summary(known) == _reference(msgpack.unpackb(other), model, ctx)
    changed = [list(f) for f in later]
    changed[0][1] = next(i for i in table.ids.tolist() if i != changed[0][1]
                         and len(msgpack.packb(i)) == len(msgpack.packb(changed[0][1])))
    frames_first = msgpack.packb({"frames": later, "v": 1, "vin": VIN, "seq": 2})
    head = b"".join(map(msgpack.packb, ("v", 1, "vin", VIN, "seq", 3, "frames", [])))
    twice = b"\x85" + head + msgpack.packb("frames") + msgpack.packb(later)
    cases = {"changed id": packed(frames=changed), "frames first": frames_first,
             "trailing byte": packed(frames=later) + b"\x00",
             "version 2": packed(v=2, frames=later), "twice": twice}
    for name, payload in cases.items():
        assert decode_known(payload, table, ctx) is None, name
    for name, payload in cases.items():
        try:
            reference: tuple[Any, ...] = _reference(msgpack.unpackb(payload), model, ctx)
        except (msgpack.ExtraData, ValueError):
            reference = ("rejected", "malformed")
        if reference[0] == "rejected":
            reference = reference[:2]
        if name == "version 2":
            reference = ("rejected", "unsupported_version")
        assert decoded(payload) == reference, name
    assert decoded(twice)[1] == 3  # the second "frames" is the batch
