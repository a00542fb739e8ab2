"""The first read surface, through a real gateway process on real services."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgpack
import pytest

from localservices import Broker, Gateway, query, wait_until
from simulator.publish import Publisher
from simulator.stream import Outgoing

pytestmark = pytest.mark.live
VIN = "LSVAU2180N2183294"


def get_error(gw: Gateway, path: str) -> tuple[int, dict[str, object]]:
    try:
        urllib.request.urlopen(gw.base + path, timeout=10)  # noqa: S310
    except urllib.error.HTTPError as exc:
        assert exc.headers["Content-Type"].startswith("application/problem+json")
        return exc.code, json.loads(exc.read())
    raise AssertionError("expected an error")


@pytest.mark.both_layouts
def test_signals_events_and_dead_letters(broker: Broker, db_url: str, tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    t0 = int(time.time() * 1000) - 60_000
    topic = f"vehicles/{VIN}/telemetry"
    good = msgpack.packb({"v": 1, "vin": VIN, "seq": 1, "t0": t0, "dt": [0, 1000, 2000],
                          "signals": {"Vehicle.LowVoltageSystemState": ["START", "ON", "OFF"],
                                      "Vehicle.Speed": [1.0, None, 3.0]},
                          "events": [{"t": t0 + 5, "type": "app.opened", "attrs": {"app": "x"}}]})
    bad = [b"\xc1", msgpack.packb({"v": 1, "vin": "LFV2A21K6P4000001", "seq": 1, "t0": t0,
                                   "dt": [0], "signals": {}})]
    pub = Publisher(broker.url)
    pub.publish([Outgoing(0, i, topic, p) for i, p in enumerate([good, *bad])])
    pub.close()
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dead_letters")[0][0] == 2, 20,
                   "dead letters")
        q = f"from={t0}&to={t0 + 10_000}"
        got = gw.get(f"/v1/vehicles/{VIN}/signals?name=Vehicle.LowVoltageSystemState&{q}")
        assert got["points"] == [[t0, "START"], [t0 + 1000, "ON"], [t0 + 2000, "OFF"]]
        got = gw.get(f"/v1/vehicles/{VIN}/signals?name=Vehicle.Speed&{q}&limit=1")
        assert got["points"] == [[t0, 1.0]]
        iso_from = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1000 - 1))
        got = gw.get(f"/v1/vehicles/{VIN}/events?from={iso_from}")
        assert got["items"] == [{"t": t0 + 5, "type": "app.opened", "attrs": {"app": "x"}}]
        page1 = gw.get("/v1/dead-letters?limit=1")
        page2 = gw.get(f"/v1/dead-letters?limit=1&cursor={page1['next']}")
        reasons = {page1["items"][0]["reason_code"], page2["items"][0]["reason_code"]}
        assert reasons == {"malformed", "vin_mismatch"}
        only = gw.get("/v1/dead-letters?reason=vin_mismatch")["items"]
        assert [i["reason"] for i in only] == [
            f"vin mismatch: topic {VIN} payload LFV2A21K6P4000001"]
        assert gw.get("/health")["status"] == "ok"

        assert get_error(gw, f"/v1/vehicles/{VIN}/signals")[0] == 400
        status, body = get_error(gw, f"/v1/vehicles/{VIN}/signals?name=Vehicle.Warp")
        assert status == 400 and "unknown signal" in str(body["detail"])
        status, body = get_error(gw, f"/v1/vehicles/{VIN}/events?from=yesterday")
        assert status == 400 and "'from'" in str(body["detail"])
        status, body = get_error(gw, "/v1/vehicles/WVWZZZ1JZXW999999/events")
        assert status == 404 and "unknown" in str(body["detail"])
        assert get_error(gw, "/v1/vehicles/short/events")[0] == 400
        assert get_error(gw, "/v1/dead-letters?reason=nope")[0] == 400
        assert get_error(gw, "/v1/dead-letters?limit=0")[0] == 400
        assert get_error(gw, "/nothing-here")[0] == 404
    finally:
        gw.stop()


def test_metrics_are_scraped_and_parsed(broker: Broker, db_url: str, tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    t0 = int(time.time() * 1000) - 60_000
    topic = f"vehicles/{VIN}/telemetry"
    good = msgpack.packb({"v": 1, "vin": VIN, "seq": 1, "t0": t0, "dt": [0, 1000],
                          "signals": {"Vehicle.Speed": [1.0, 912.0]}})
    pub = Publisher(broker.url)
    pub.publish([Outgoing(0, 0, topic, good), Outgoing(0, 1, topic, b"\xc1")])
    pub.close()
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dead_letters")[0][0] == 2, 20,
                   "both dead letters")
        with urllib.request.urlopen(gw.base + "/metrics", timeout=10) as resp:  # noqa: S310
            text = resp.read().decode()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert samples[("telematics_messages_received_total", ())] == 2
        assert samples[("telematics_messages_committed_total", ())] == 1
        assert samples[("telematics_samples_committed_total", ())] == 1
        assert samples[("telematics_messages_rejected_total", (("reason", "malformed"),))] == 1
        assert samples[("telematics_messages_rejected_total", (("reason", "out_of_range"),))] == 1
        assert samples[("telematics_inflight_messages", ())] == 0
        assert samples[("telematics_batch_messages_count", ())] >= 1
    finally:
        gw.stop()
