"""Real-world DBC files of five makers (the public opendbc collection, installed from PyPI
with its MIT licence): each loads (relaxed where it must, and says so), a few signals are
mapped to the catalog, frames are encoded with cantools at the edge raw values of every
mapped signal (minimum, maximum, every named value), published through Mosquitto to a live
gateway, and what was stored and counted is checked value by value."""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import cantools
import msgpack
import pytest

from decoders.can_dbc import NamedValue, load_can_models
from decoders.catalog import load_catalog
from decoders.dbc_loader import load_dbc
from features.registry import Registration, upsert
from localservices import Broker, Gateway, query, wait_until
from simulator.publish import Publisher
from simulator.stream import Outgoing
from timeseries.db import connect

pytestmark = pytest.mark.live
DBC_DIR = Path(str(distribution("opendbc").locate_file("opendbc/dbc")))


@dataclass(frozen=True)
class Maker:
    """One real DBC file and the signals we map from it."""

    model: str
    dbc: str
    vin: str
    signals: dict[str, Any]  # DBC signal -> catalog name or {"vss", "factor"}
    relaxed: bool             # the file needs relaxing to load


MAKERS = (
    # unused value table (VAL_ of a signal the file does not define); SNA/INIT named values;
    # the speed is in MPH (the loader refuses it without a factor)
    Maker("Tesla Model S", "tesla_can.dbc", "5YJSA1E26HF000001",
          {"DI_vehicleSpeed": {"vss": "Vehicle.Speed", "factor": 1.609344},
           "AirTemp_Outsd": "Vehicle.Exterior.AirTemperature"},
          True),
    # overlapping signals (non-strict), Init/Fehler on a percentage, a 20-bit odometer
    Maker("VW Golf MQB", "vw_mqb.dbc", "WVWZZZAUZJW000002",
          {"ESP_v_Signal": "Vehicle.Speed",
           "KBI_Tankfuellstand_Prozent": "Vehicle.Powertrain.FuelSystem.RelativeLevel",
           "KBI_Kilometerstand": "Vehicle.TraveledDistance"}, True),
    # big-endian signals, a speed in mph converted by a factor
    Maker("Toyota Prius", "toyota_prius_2010_pt.dbc", "JTDKN3DU5A0000003",
          {"SPEED": {"vss": "Vehicle.Speed", "factor": 1.609344},
           "ENGINE_RPM": "Vehicle.Powertrain.CombustionEngine.Speed"}, False),
    # big-endian 24-bit odometer with an "Invalid" value, a temperature wider than the catalog
    Maker("Lincoln Aviator", "ford_lincoln_base_pt.dbc", "5LM5J7XC0LGL00004",
          {"OdometerMasterValue": "Vehicle.TraveledDistance",
           "AirAmb_Te_Actl": "Vehicle.Exterior.AirTemperature"}, False),
    # a multiplexed message (EMS12: MUL_CODE selects the branch)
    Maker("Hyundai Sonata", "hyundai_2015_ccan.dbc", "KMHE341BBGA000005",
          {"TEMP_ENG": "Vehicle.Powertrain.CombustionEngine.ECT"}, False),
)


def raw_edges(signal: cantools.database.can.Signal) -> list[int]:
    """The smallest and largest raw value the signal's bits hold, and every named one."""
    if signal.is_signed:
        lo, hi = -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    else:
        lo, hi = 0, (1 << signal.length) - 1
    return sorted({lo, hi, *(int(k) for k in (signal.choices or {}))})


def frame_for(message: cantools.database.can.Message, target: str, raw: int) -> bytes:
    """The message with ``target`` at ``raw``, its multiplexer on the target's branch (else
    branch 0) and every other signal of that branch at raw 0."""
    data = {s.name: 0 for s in message.signals if s.is_multiplexer}
    signal = message.get_signal_by_name(target)
    if signal.multiplexer_ids and signal.multiplexer_signal:
        data[signal.multiplexer_signal] = signal.multiplexer_ids[0]
    data[target] = raw
    for s in message.signals:
        if s.name not in data and (s.multiplexer_ids is None
                                   or data.get(s.multiplexer_signal or "") in s.multiplexer_ids):
            data[s.name] = 0
    return bytes(message.encode(data, scaling=False, padding=False, strict=False))


def expected_values(maker: Maker, message: cantools.database.can.Message, data: bytes
                    ) -> tuple[dict[str, float], int, int]:
    """What the gateway must store from one frame (column -> value), and how many values
    are 'not available' and out of the catalog's range. The reference decoding is
    cantools' own."""
    catalog = load_catalog().signals
    decoded = message.decode(data, decode_choices=True)
    assert isinstance(decoded, dict)
    stored: dict[str, float] = {}
    unavailable = out_of_range = 0
    for name, value in decoded.items():
        entry = maker.signals.get(name)
        if entry is None:
            continue
        vss, factor = (entry, 1.0) if isinstance(entry, str) else (entry["vss"], entry["factor"])
        spec = catalog[vss]
        if isinstance(value, NamedValue):
            unavailable += 1
            continue
        physical = float(value) * factor
        assert spec.min is not None and spec.max is not None
        if not spec.min <= physical <= spec.max:
            out_of_range += 1
            continue
        stored[spec.column] = physical
    return stored, unavailable, out_of_range


def write_models(tmp: Path) -> Path:
    for maker in MAKERS:
        (tmp / f"{maker.dbc}.vss.json").write_text(json.dumps(
            {"dbc": str(DBC_DIR / maker.dbc), "signals": maker.signals}))
    models = tmp / "models.json"
    models.write_text(json.dumps({"default": f"{MAKERS[0].dbc}.vss.json",
                                  "models": {m.model: f"{m.dbc}.vss.json" for m in MAKERS}}))
    return models


@pytest.mark.parametrize("maker", MAKERS, ids=lambda m: m.dbc)
def test_each_real_dbc_loads_and_says_what_was_relaxed(maker: Maker) -> None:
    _db, relaxed = load_dbc(DBC_DIR / maker.dbc)
    assert bool(relaxed) == maker.relaxed, relaxed
    if maker.relaxed:
        with pytest.raises(ValueError, match=f"{maker.dbc} does not load strictly"):
            load_dbc(DBC_DIR / maker.dbc, strict=True)


def test_a_unit_that_differs_from_the_catalog_needs_a_factor(tmp_path: Path) -> None:
    (tmp_path / "m.vss.json").write_text(json.dumps(
        {"dbc": str(DBC_DIR / "toyota_prius_2010_pt.dbc"), "signals": {"SPEED": "Vehicle.Speed"}}))
    (tmp_path / "models.json").write_text(json.dumps({"default": "m.vss.json"}))
    with pytest.raises(ValueError, match=r"SPEED is in 'mph', Vehicle\.Speed in 'km/h'"):
        load_can_models(str(tmp_path / "models.json"))


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def test_edge_raw_values_of_real_dbcs_through_a_live_gateway(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    models_file = write_models(tmp_path)
    gw = Gateway(broker.url, db_url, tmp_path, can_models=str(models_file))
    gw.start()
    try:
        asyncio.run(_register(db_url))
        t0 = int(time.time() * 1000) - 3_600_000
        loaded = load_can_models(str(models_file))
        want: dict[tuple[str, int], dict[str, float]] = {}
        unavailable = out_of_range = 0
        messages = []
        for n, maker in enumerate(MAKERS):
            model = loaded.for_model(maker.model)
            frames = []
            t = t0
            for message in model.messages.values():
                for signal in message.signals:
                    if signal.name not in maker.signals:
                        continue
                    for raw in raw_edges(signal):
                        data = frame_for(message, signal.name, raw)
                        stored, na, oor = expected_values(maker, message, data)
                        frames.append([t, message.frame_id, data])
                        want[(maker.vin, t)] = stored
                        unavailable += na
                        out_of_range += oor
                        t += 1000
            payload = msgpack.packb({"v": 1, "vin": maker.vin, "seq": n, "frames": frames})
            messages.append(Outgoing(0, n, f"vehicles/{maker.vin}/can", payload))
        assert unavailable >= 6 and out_of_range >= 6  # the edges are really exercised
        pub = Publisher(broker.url)
        try:
            pub.publish(messages)
        finally:
            pub.close()
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0]
                   == len(MAKERS), 30, "every CAN batch committed")
        columns = sorted({c for row in want.values() for c in row})
        rows = query(db_url, "SELECT v.vin, (extract(epoch FROM s.ts) * 1000)::bigint, "
                     + ", ".join(f"s.{c}" for c in columns)
                     + " FROM samples s JOIN vehicles v ON v.id = s.vehicle_id")
        got = {(r[0], r[1]): {c: x for c, x in zip(columns, r[2:], strict=True)
                              if x is not None} for r in rows}
        for key, expected in want.items():
            stored = got.get(key, {})
            assert stored.keys() == expected.keys(), (key, stored, expected)
            for column, value in expected.items():
                assert math.isclose(stored[column], value, rel_tol=1e-9, abs_tol=1e-6), \
                    (key, column, stored[column], value)
        with open(gw.log) as fh:
            log = fh.read()
        assert "decoder_error" not in log and "Traceback" not in log
        assert "tesla_can.dbc needed relaxing to load: dropped 1 value tables" in log
        text = _metrics(gw)
        assert metric(text, "telematics_signal_unavailable_total") == unavailable
        assert metric(text, 'telematics_messages_rejected_total{reason="out_of_range"}') \
            == out_of_range
        assert metric(text, 'telematics_messages_rejected_total{reason="decoder_error"}') == 0
    finally:
        gw.stop()


def _metrics(gw: Gateway) -> str:
    import urllib.request
    with urllib.request.urlopen(gw.base + "/metrics", timeout=10) as resp:  # noqa: S310
        return str(resp.read().decode())


async def _register(db_url: str) -> None:
    async with await connect(db_url) as conn:
        for maker in MAKERS:
            async with conn.transaction():
                await upsert(conn, Registration(vin=maker.vin, model=maker.model))
