"""Fuzzing: random and mutated payloads never crash a decoder, never cost a good message."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders.catalog import load_catalog
from decoders.errors import REJECT_CODES, Rejected
from decoders.registry import DECODERS, decode_message
from localservices import Broker, Gateway, query, wait_until
from simulator.publish import Publisher
from simulator.stream import Outgoing
from tests.golden_cases import cases

VIN = "LSVAU2180N2183294"
NOW = 1_763_798_460_000
T0 = NOW - 60_000
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
SIGNALS = list(load_catalog().signals)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(),
                    st.text(max_size=20), st.binary(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=6), max_leaves=30)
timestamps = st.one_of(st.integers(0, 2**63 - 1), st.just(0), st.just(4_102_444_800_000),
                       st.integers(T0 - 10**9, T0 + 10**9))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly contract-shaped maps with wrong parts in them."""
    n = draw(st.integers(0, 12))
    doc: dict[str, Any] = {
        "v": draw(st.one_of(st.just(1), values)),
        "vin": draw(st.one_of(st.just(VIN), st.just("LFV2A21K6P4000001"), values)),
        "seq": draw(st.one_of(st.integers(0, 10**6), values)),
        "t0": draw(st.one_of(timestamps, values)),
        "dt": draw(st.one_of(st.lists(st.integers(-10**6, 10**9), min_size=n, max_size=n),
                             values)),
        "signals": draw(st.dictionaries(
            st.one_of(st.sampled_from(SIGNALS), st.text(max_size=30)),
            st.one_of(st.lists(st.one_of(st.none(), st.floats(), st.integers(-10**6, 10**6),
                                         st.sampled_from(["ON", "OFF", "x"]), st.booleans()),
                               min_size=n, max_size=n), values), max_size=6)),
    }
    if draw(st.booleans()):
        doc["events"] = draw(st.lists(st.fixed_dictionaries(
            {"t": st.one_of(timestamps, values), "type": st.one_of(st.text(max_size=30), values),
             "attrs": values}), max_size=4))
    for key in draw(st.lists(st.sampled_from(list(doc)), max_size=2)):
        doc.pop(key, None)
    return doc


def _check(topic: str, payload: bytes, model: str | None = None) -> None:
    try:
        r = decode_message(topic, payload, NOW, model)
    except Rejected as exc:
        assert exc.rejection.code in REJECT_CODES and exc.rejection.detail
        return
    assert r.vin == VIN and not r.is_empty
    for column, vals in r.columns.items():
        spec = load_catalog().by_column(column)
        assert len(vals) == len(r.ts_ms)
        for v in vals:
            assert v is None or (math.isfinite(v) and (spec.min is None or spec.min <= v
                                                       <= (spec.max or 0) or spec.type != "float"))
    for rej in r.rejections:
        assert rej.code in REJECT_CODES and rej.detail


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes(payload: bytes) -> None:
    for decoder in DECODERS:
        _check(f"vehicles/{VIN}/{decoder.suffix}", payload)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_structured_documents(doc: dict[str, Any]) -> None:
    _check(f"vehicles/{VIN}/telemetry", msgpack.packb(doc, use_bin_type=True))
    try:
        text = json.dumps(doc).encode()
    except (TypeError, ValueError):
        return  # bytes are not JSON
    _check(f"vehicles/{VIN}/telemetry/json", text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.data())
def test_mutated_valid_frames(data: st.DataObject) -> None:
    good = msgpack.packb({"v": 1, "vin": VIN, "seq": 1, "t0": T0, "dt": [0, 1000],
                          "signals": {"Vehicle.Speed": [1.0, 2.0]}})
    raw = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _check(f"vehicles/{VIN}/telemetry", bytes(raw[:cut]))


GOLDEN_OK = [p for p in cases() if p.name.startswith("ok_")]


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.data())
def test_mutated_golden_inputs_of_every_format(data: st.DataObject) -> None:
    folder = data.draw(st.sampled_from(GOLDEN_OK))
    config = json.loads((folder / "config.json").read_text())
    (payload_file,) = folder.glob("input.*")
    raw = bytearray(payload_file.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _check(config["topic"], bytes(raw[:data.draw(st.integers(0, len(raw)))]),
           config.get("model"))


def test_nesting_and_size_bombs() -> None:
    for payload in (b"\x91" * 200_000 + b"\x00", b"[" * 200_000, b"\xdd\xff\xff\xff\xff",
                    msgpack.packb({"v": 1, "vin": VIN, "seq": 1, "t0": T0,
                                   "dt": list(range(50_000)), "signals": {}})):
        _check(f"vehicles/{VIN}/telemetry", payload)
        _check(f"vehicles/{VIN}/telemetry/json", payload)


@pytest.mark.live
def test_garbage_between_valid_messages_through_the_gateway(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    """Valid messages interleaved with fuzz: every valid one stored, every bad one kept."""
    rng = random.Random(5)
    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    t0 = int(time.time() * 1000) - 3_600_000
    msgs: list[Outgoing] = []
    topic = f"vehicles/{VIN}/telemetry"
    for i in range(300):
        good = msgpack.packb({"v": 1, "vin": VIN, "seq": i, "t0": t0 + i * 10_000,
                              "dt": [0, 1000], "signals": {"Vehicle.Speed": [1.0, 2.0]}})
        msgs.append(Outgoing(0, len(msgs), topic, good))
        junk = bytearray(good)
        junk[rng.randrange(len(junk))] = rng.randrange(256)
        big = b"\xc1" + rng.randbytes(2000) if i % 50 == 0 else b"\xc1" + i.to_bytes(2, "big")
        for payload in (bytes(junk[: rng.randrange(len(junk))]), rng.randbytes(40), big):
            msgs.append(Outgoing(0, len(msgs), topic, payload))
    # what must end up as dead letters: whatever the decoder rejects, wholly or in part
    expected = set()
    for m in msgs[1::4] + msgs[2::4] + msgs[3::4]:
        try:
            if not decode_message(m.topic, m.payload, int(time.time() * 1000)).rejections:
                continue
        except Rejected:
            pass
        expected.add(hashlib.sha256(m.topic.encode() + b"\0" + m.payload).hexdigest())
    pub = Publisher(broker.url)
    pub.publish(msgs)
    pub.close()
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log WHERE seq < 300"
                                         " AND topic = %s", (topic,))[0][0] >= 300, 60,
                   "every valid message")
        def dead() -> set[str]:
            return {bytes(r[0]).hex() for r in query(db_url, "SELECT digest FROM dead_letters")}

        wait_until(lambda: dead() >= expected, 60, "every bad message kept")
        assert len(expected) > 800
        assert query(db_url, "SELECT count(*) FROM samples")[0][0] >= 600
        assert gw.proc is not None and gw.proc.poll() is None
        assert all(r[0] for r in query(db_url, "SELECT reason FROM dead_letters"))
    finally:
        gw.stop()
