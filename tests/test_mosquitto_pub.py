"""An independent client (mosquitto_pub) publishes a hand-written payload; the gateway stores it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from localservices import Broker, Gateway, query, wait_until

pytestmark = pytest.mark.live
VIN = "WVWZZZ1JZXW000001"
# {"v":1,"vin":VIN,"seq":1,"t0":<now-60s>,"dt":[0,1000],
#  "signals":{"Vehicle.Speed":[12.5,14.0],"Vehicle.TraveledDistance":[100.25,100.26]}}
# written byte by byte, not with the msgpack library.


def handwritten(t0: int) -> bytes:
    def s(text: str) -> bytes:
        assert len(text) < 32
        return bytes([0xA0 | len(text)]) + text.encode()

    def f64(x: float) -> bytes:
        import struct
        return b"\xcb" + struct.pack(">d", x)

    return (b"\x86" + s("v") + b"\x01" + s("vin") + b"\xb1" + VIN.encode()
            + s("seq") + b"\x01" + s("t0") + b"\xcf" + t0.to_bytes(8, "big")
            + s("dt") + b"\x92\x00\xcd\x03\xe8"
            + s("signals") + b"\x82"
            + s("Vehicle.Speed") + b"\x92" + f64(12.5) + f64(14.0)
            + b"\xb8Vehicle.TraveledDistance" + b"\x92" + f64(100.25) + f64(100.26))


@pytest.mark.parametrize("client", ["native", "aiomqtt"])
def test_mosquitto_pub_payload_is_stored(broker: Broker, db_url: str, tmp_path: Path,
                                         client: str) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, mqtt_client=client)
    gw.start()
    try:
        t0 = (int(time.time()) - 60) * 1000
        payload = tmp_path / "frame.msgpack"
        payload.write_bytes(handwritten(t0))
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t",
                        f"vehicles/{VIN}/telemetry", "-f", str(payload)], check=True, timeout=10)
        wait_until(lambda: query(db_url, "SELECT count(*) FROM samples")[0][0] == 2, 20,
                   "two rows stored")
        rows = query(db_url, "SELECT (extract(epoch FROM ts)*1000)::bigint, speed_kmh, odometer_km"
                             " FROM samples ORDER BY ts")
        assert rows == [(t0, 12.5, 100.25), (t0 + 1000, 14.0, 100.26)]
        got = gw.get(f"/v1/vehicles/{VIN}/signals?name=Vehicle.Speed&from={t0}&to={t0 + 5000}")
        assert got == {"vin": VIN, "name": "Vehicle.Speed", "unit": "km/h",
                       "points": [[t0, 12.5], [t0 + 1000, 14.0]]}
        contract = subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-t",
                                   "telematics/contract", "-C", "1", "-W", "5"],
                                  capture_output=True, timeout=10, check=True).stdout
        announced = json.loads(contract)  # retained: whoever subscribes gets it
        assert announced["contract_versions"] == [1, 2]
        assert announced["topics"]["vehicles/{vin}/can"] == "can_v1"
    finally:
        gw.stop()
