"""Fuzzing with structure: generated DBC files with generated frames, generated protobuf
Records and contract documents at the edges of every range. No decoder may raise anything
but its own rejection (a ``decoder_error`` here is a bug); through a live gateway, the
process never exits and every message ends committed or dead-lettered."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders.can_dbc import CanModels, load_can_models
from decoders.catalog import load_catalog
from decoders.errors import Rejected
from decoders.readings import Readings
from decoders.registry import decode_message
from localservices import Broker, Gateway, query, wait_until
from simulator.publish import Publisher
from simulator.stream import Outgoing
from tests.fuzz_documents import (
    Chooser,
    Drawn,
    Seeded,
    can_batch,
    dbc_model,
    edge_document,
    pb_record,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
VIN = "LSVAU2180N2183294"
NOW = int(time.time() * 1000)
T0 = NOW - 600_000


def write_models(folder: Path, models: list[tuple[str, dict[str, str]]]) -> Path:
    names = {}
    for i, (dbc, mapping) in enumerate(models):
        (folder / f"gen{i}.dbc").write_text(dbc)
        (folder / f"gen{i}.vss.json").write_text(json.dumps({"dbc": f"gen{i}.dbc",
                                                             "signals": mapping}))
        names[f"Gen {i}"] = f"gen{i}.vss.json"
    path = folder / "models.json"
    path.write_text(json.dumps({"default": "gen0.vss.json", "models": names}))
    return path


def decode(topic: str, payload: bytes, models: CanModels | None = None,
           model: str | None = None) -> Readings | None:
    """Decode; a rejection is fine unless it is a decoder's bug."""
    try:
        readings = decode_message(topic, payload, NOW, model, models)
    except Rejected as exc:
        assert exc.rejection.code != "decoder_error", exc.rejection.detail
        return None
    for column, values in readings.columns.items():
        spec = load_catalog().by_column(column)
        for v in values:
            assert v is None or math.isfinite(v)
            if v is not None and spec.type == "float":
                assert spec.min is not None and spec.max is not None
                assert spec.min <= v <= spec.max
    return readings


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_dbcs_and_frames(data: st.DataObject) -> None:
    c: Chooser = Drawn(data)
    dbc, mapping = dbc_model(c)
    with tempfile.TemporaryDirectory() as folder:
        models = load_can_models(str(write_models(Path(folder), [(dbc, mapping)])))
    ids = list(models.default.messages)
    for seq in range(3):
        decode(f"vehicles/{VIN}/can", can_batch(c, VIN, seq, T0, ids), models)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_protobuf_records(data: st.DataObject) -> None:
    decode(f"vehicles/{VIN}/pb", pb_record(Drawn(data), VIN, 1, T0))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_documents_at_the_edges_of_every_range(data: st.DataObject) -> None:
    doc = edge_document(Drawn(data), VIN, 1, T0)
    try:
        packed = msgpack.packb(doc)
    except OverflowError:
        packed = b""  # 2**64 has no MessagePack form; JSON below still carries it
    if packed:
        decode(f"vehicles/{VIN}/telemetry", packed)
    try:
        text = json.dumps(doc, allow_nan=True).encode()
    except (TypeError, ValueError):
        return
    decode(f"vehicles/{VIN}/telemetry/json", text)


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


@pytest.mark.live
def test_generated_inputs_through_a_live_gateway(broker: Broker, db_url: str,
                                                  tmp_path: Path) -> None:
    c = Seeded(int(os.environ.get("FUZZ_SEED", "11")))
    models = [dbc_model(c) for _ in range(3)]
    models_file = write_models(tmp_path, models)
    loaded = load_can_models(str(models_file))
    gw = Gateway(broker.url, db_url, tmp_path, can_models=str(models_file))
    gw.start()
    try:
        import asyncio

        from features.registry import Registration, upsert
        from timeseries.db import connect
        vins = [f"LSVAU2180N21830{i:02d}" for i in range(5)]

        async def register() -> None:
            async with await connect(db_url) as conn:
                for i in range(3):
                    async with conn.transaction():
                        await upsert(conn, Registration(vin=vins[i], model=f"Gen {i}"))
        asyncio.run(register())
        out: list[Outgoing] = []
        for seq in range(400):
            vin = c.pick(vins)
            kind = c.pick(["can", "can", "pb", "msgpack", "json", "bytes"])
            t0 = T0 + seq * 1000
            if kind == "can":
                model = loaded.by_model.get(f"Gen {vins.index(vin)}", loaded.default)
                body: bytes = can_batch(c, vin, seq, t0, list(model.messages))
                topic = f"vehicles/{vin}/can"
            elif kind == "pb":
                body, topic = pb_record(c, vin, seq, t0), f"vehicles/{vin}/pb"
            elif kind == "bytes":
                body = c.blob(c.integer(0, 64))
                topic = f"vehicles/{vin}/{c.pick(['telemetry', 'telemetry/json', 'can', 'pb'])}"
            else:
                doc: dict[str, Any] = edge_document(c, vin, seq, t0)
                if kind == "json":
                    body, topic = json.dumps(doc).encode(), f"vehicles/{vin}/telemetry/json"
                else:
                    try:
                        body = msgpack.packb(doc)
                    except OverflowError:
                        body = json.dumps(doc).encode()[:40]  # sent as garbage instead
                    topic = f"vehicles/{vin}/telemetry"
            out.append(Outgoing(0, seq, topic, body))
        pub = Publisher(broker.url)
        try:
            pub.publish(out)
        finally:
            pub.close()

        def settled() -> bool:
            text = _metrics(gw)
            done = metric(text, "telematics_messages_committed_total")
            whole = query(db_url, "SELECT coalesce(sum(times), 0) FROM dead_letters"
                          " WHERE NOT partial")[0][0]
            return bool(done + whole == len(out))
        wait_until(settled, 60, "every message committed or dead-lettered")
        text = _metrics(gw)
        assert metric(text, "telematics_messages_received_total") == len(out)
        assert metric(text, 'telematics_messages_rejected_total{reason="decoder_error"}') == 0
        assert gw.proc is not None and gw.proc.poll() is None
    finally:
        gw.stop()


def _metrics(gw: Gateway) -> str:
    with urllib.request.urlopen(gw.base + "/metrics", timeout=10) as resp:  # noqa: S310
        return str(resp.read().decode())
