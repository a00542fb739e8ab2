"""A fleet speaking every wire format (MessagePack, JSON, CAN frames with per-model DBCs,
protobuf records) through Mosquitto and a gateway process: stored data and derived daily
figures equal the simulator's ground truth for each format."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.schema import migrate
from localservices import Broker, Gateway, query, wait_until
from simulator.fleet import make_fleet
from simulator.publish import Publisher
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import register_fleet
from tests.fleet_check import assert_matches_truth, wait_for_everything
from timeseries.db import connect

pytestmark = pytest.mark.live


async def _register(db_url: str, vehicles: dict[str, Any]) -> None:
    async with await connect(db_url) as conn:
        await migrate(conn)
        await register_fleet(conn, vehicles)


def _daily_mismatches(db_url: str, truth: dict[str, Any]) -> dict[str, list[Any]]:
    stored = {(vin, str(day)): (trips, km) for vin, day, trips, km in query(
        db_url, "SELECT v.vin, d.day, d.trips, d.km FROM daily_usage d"
                " JOIN vehicles v ON v.id = d.vehicle_id")}
    out: dict[str, list[Any]] = {}
    for vin, v in truth["vehicles"].items():
        for day, d in v["days"].items():
            trips, km = stored.get((vin, day), (0, 0.0))
            if trips != len(d["trips"]) or abs(km - d["km"]) > 0.005 * max(d["km"], 1):
                out.setdefault(v["meta"]["wire"], []).append((vin, day, trips, km, d))
    return out


def test_mixed_wire_fleet_matches_the_truth(broker: Broker, db_url: str,
                                            tmp_path: Path) -> None:
    start = date.today() - timedelta(days=6)
    truth = FleetTruth()
    fleet = make_fleet(24, 4, start, 21, json_share=0.25, can_share=0.3, pb_share=0.25)
    wires = Counter(v.wire for v in fleet)
    assert set(wires) == {"msgpack", "json", "can", "pb"}, wires
    assert {v.model for v in fleet if v.wire == "can"} & {"Volta EV", "Ion Cross"}, \
        "a CAN vehicle on the EV platform's DBC"
    messages = list(fleet_stream(fleet, start, 4, 21, 900,
                                 Faults(duplicates=0.03, reorder=0.03, garbage=0.003), truth))
    expected = truth.to_json()
    asyncio.run(_register(db_url, expected["vehicles"]))  # CAN needs the model's DBC
    gw = Gateway(broker.url, db_url, tmp_path, profile_refresh_s="1")
    gw.start()
    try:
        pub = Publisher(broker.url)
        pub.publish(messages)
        pub.close()
        wait_for_everything(db_url, expected)
        assert_matches_truth(db_url, expected)
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dirty_hours")[0][0] == 0, 180,
                   "derivations", every=0.5)
        assert _daily_mismatches(db_url, expected) == {}
        topics = {t.split("/", 2)[2] for (t,) in query(db_url, "SELECT topic FROM ingest_log")}
        assert topics == {"telemetry", "telemetry/json", "can", "pb"}
    finally:
        gw.stop()


def test_can_frames_of_an_unregistered_ev_wait_as_dead_letters_until_registered(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    start = date.today() - timedelta(days=3)
    truth = FleetTruth()
    evs = [v for v in make_fleet(40, 1, start, 5, json_share=0, can_share=1.0)
           if v.model in ("Volta EV", "Ion Cross")][:1]
    messages = [m for m in fleet_stream(evs, start, 1, 5, 900, Faults(), truth)
                if m.topic.endswith("/can")]
    gw = Gateway(broker.url, db_url, tmp_path, api_tokens="ops:admin-token-1:admin")
    gw.start()
    try:
        pub = Publisher(broker.url)
        pub.publish(messages)
        pub.close()
        # unregistered: the default DBC does not describe the EV platform's frames
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dead_letters")[0][0]
                   == len(messages), 60, "dead letters")
        reasons = query(db_url, "SELECT DISTINCT reason_code, reason FROM dead_letters")
        assert {r[0] for r in reasons} == {"bad_frame"}
        assert all("not in sim_telematics.dbc: 0x300, 0x301" in r[1] for r in reasons), reasons
        asyncio.run(_register(db_url, truth.to_json()["vehicles"]))
        ids = [r[0] for r in query(db_url, "SELECT id FROM dead_letters ORDER BY id")]
        for dl in ids:
            status, body = _post(gw.base + f"/v1/dead-letters/{dl}:retry", "admin-token-1")
            assert status == 200 and body["outcome"] == "stored", body
        v = truth.vehicles[evs[0].vin]
        assert query(db_url, "SELECT count(*) FROM samples")[0][0] == v.rows
    finally:
        gw.stop()


def _post(url: str, token: str) -> tuple[int, Any]:
    import urllib.request
    req = urllib.request.Request(url, method="POST", data=b"",  # noqa: S310 - local test
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return resp.status, json.loads(resp.read())
