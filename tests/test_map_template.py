"""MessagePack maps read from their bytes through a template must equal the usual unpacking
and checks exactly: on the benchmark's fleet batches and the simulator's messages, on maps
of a known shape with other VINs, sequence numbers, times and values, and on every change of
a byte that the template must not take for a value (a NaN, a value out of range, an integer
or a boolean for a float, another VIN, a negative sequence number, a time in the future,
another signal name)."""

from __future__ import annotations

import random
import struct
import time
from datetime import date, timedelta
from typing import Any

import msgpack
import pytest

from benchmarks.workloads import W2
from decoders import map_template, msgpack_v1
from decoders.contract import check_document
from decoders.errors import Rejected
from decoders.readings import DecodeContext, Readings
from decoders.registry import topic_vin

NOW = int(time.time() * 1000)


def _summary(r: Readings) -> tuple[Any, ...]:
    return (r.vin, r.seq, r.t0_ms, r.ts_ms, r.signals,
            [[None if v != v else v for v in row] for row in r.values.tolist()], r.value_count,
            r.events, r.dtc_reports, r.software_reports, r.rejections, r.unknown_frames)


def _ctx(topic: str) -> DecodeContext:
    return DecodeContext(topic, topic_vin(topic), NOW)


def _reference(topic: str, payload: bytes) -> tuple[Any, ...]:
    try:
        return _summary(check_document(msgpack_v1.unpack(payload), _ctx(topic)))
    except Rejected as exc:
        return ("rejected", exc.rejection.code, exc.rejection.detail)


def _decoded(topic: str, payload: bytes) -> tuple[Any, ...]:
    try:
        return _summary(msgpack_v1.decode(payload, _ctx(topic)))
    except Rejected as exc:
        return ("rejected", exc.rejection.code, exc.rejection.detail)


def _learn(topic: str, payload: bytes) -> None:
    map_template.TEMPLATES.clear()
    for _ in range(2):  # a shape is recorded the second time its length is seen
        assert _decoded(topic, payload) == _reference(topic, payload)


def test_fleet_batches_read_through_a_template_equal_the_usual_checks() -> None:
    w = W2(40, 3, base_ms=NOW - 3_600_000)
    messages = list(w.slice(0, 1))
    _learn(*messages[0])
    taken = 0
    for topic, payload in messages:
        taken += map_template.decode_known(payload, _ctx(topic)) is not None
        assert _decoded(topic, payload) == _reference(topic, payload)
    assert taken == len(messages)  # other VINs, seq and t0 and values: one template


def test_the_simulators_messages_equal_the_usual_checks() -> None:
    from simulator.fleet import make_fleet
    from simulator.stream import Faults, fleet_stream
    from simulator.truth import FleetTruth
    start = date.today() - timedelta(days=3)
    fleet = make_fleet(12, 2, start, 4)
    map_template.TEMPLATES.clear()
    for m in fleet_stream(fleet, start, 2, 4, 900, Faults(duplicates=0.02, garbage=0.01),
                          FleetTruth()):
        if m.topic.endswith("/telemetry"):
            assert _decoded(m.topic, m.payload) == _reference(m.topic, m.payload)


def _float_at(payload: bytes, k: int) -> int:
    """Where the k-th float of the payload starts (its 0xCB marker)."""
    at = -1
    for _ in range(k + 1):
        at = payload.index(b"\xcb", at + 1)
    return at


@pytest.mark.parametrize("change", [
    "nan", "infinite", "out of range", "integer", "boolean", "other vin", "vin of the topic",
    "negative seq", "future t0", "huge t0", "other signal", "larger seq", "plain"])
def test_a_changed_byte_is_never_taken_for_a_value(change: str) -> None:
    w = W2(3, 1, base_ms=NOW - 3_600_000)
    topic, payload = next(w.slice(0, 1))
    _learn(topic, payload)
    doc = msgpack.unpackb(payload)
    rng = random.Random(change)
    name = rng.choice(list(doc["signals"]))
    changed = bytearray(payload)
    if change in ("nan", "infinite", "out of range"):
        value = {"nan": float("nan"), "infinite": float("inf"), "out of range": 1e9}[change]
        at = _float_at(payload, rng.randrange(200))
        changed[at + 1:at + 9] = struct.pack(">d", value)
    elif change == "integer":  # same length: a float replaced by a 9-byte integer
        at = _float_at(payload, 5)
        changed[at:at + 9] = b"\xcf" + (7).to_bytes(8, "big")
    elif change == "boolean":
        doc["signals"][name][0] = True
        changed = bytearray(msgpack.packb(doc))
    elif change == "other vin":
        changed = bytearray(payload.replace(doc["vin"].encode(), b"X" * 17))
    elif change == "vin of the topic":
        topic = topic.replace(doc["vin"], "W" * 17)
    elif change == "negative seq":  # seq 0 is a fixint: 0xff is -1, same length
        changed[payload.index(b"\xa3seq") + 4] = 0xFF
    elif change in ("future t0", "huge t0"):
        doc["t0"] = NOW + 26 * 3_600_000 if change == "future t0" else 2**63 + 5
        changed = bytearray(msgpack.packb(doc))
    elif change == "other signal":
        doc["signals"]["Vehicle.Unknown.Signal"] = doc["signals"].pop(name)
        changed = bytearray(msgpack.packb(doc))
    elif change == "larger seq":
        doc["seq"] = 100
        changed = bytearray(msgpack.packb(doc))
    payload = bytes(changed)
    known = map_template.decode_known(payload, _ctx(topic))
    assert (known is not None) == (change in ("larger seq", "plain")), change
    assert _decoded(topic, payload) == _reference(topic, payload)


@pytest.mark.live
def test_fleet_batches_through_a_live_gateway_store_every_value(
        broker: Any, db_url: str, tmp_path: Any) -> None:
    """Fleet batches published through Mosquitto to a gateway (most of them read through a
    template) are stored value for value as sent."""
    from localservices import Gateway, query, wait_until
    from simulator.publish import Publisher
    from simulator.stream import Outgoing
    w = W2(30, 3, base_ms=NOW - 3_600_000)
    messages = list(w.slice(0, 1))
    gw = Gateway(broker.url, db_url, tmp_path, derive="false")
    gw.start()
    try:
        pub = Publisher(broker.url)
        try:
            pub.publish([Outgoing(0, n, t, p) for n, (t, p) in enumerate(messages)])
        finally:
            pub.close()
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0]
                   == len(messages), 60, "every batch committed")
    finally:
        gw.stop()
    from decoders.catalog import load_catalog
    catalog = load_catalog().signals
    names = list(msgpack.unpackb(messages[0][1])["signals"])
    columns = ", ".join(f"s.{catalog[n].column}" for n in names)
    stored = {(vin, ts): values for vin, ts, *values in query(
        db_url, f"SELECT v.vin, (extract(epoch FROM s.ts) * 1000)::bigint, {columns}"
        " FROM samples s JOIN vehicles v ON v.id = s.vehicle_id")}
    sent = {}
    for _, payload in messages:
        doc = msgpack.unpackb(payload)
        for k, dt in enumerate(doc["dt"]):
            sent[(doc["vin"], doc["t0"] + dt)] = [doc["signals"][n][k] for n in names]
    assert stored == sent
