"""A message that kills the gateway process is quarantined after N redeliveries: the
gateway comes back up, everything else is stored once, that payload is a dead letter."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from localservices import Broker, Gateway, query, wait_until
from simulator.publish import Publisher
from simulator.stream import Outgoing

pytestmark = pytest.mark.live

# the JSON decoder, made to kill the process (no exception, no cleanup) on one payload
CRASHING_GATEWAY = """
import os, sys
from decoders import registry
entry = registry._BY_SUFFIX["telemetry/json"]
def decode(body, ctx):
    if b"CRASH-ME" in body:
        os._exit(3)
    return entry.decode(body, ctx)
registry._BY_SUFFIX["telemetry/json"] = registry.DecoderEntry(entry.name, entry.suffix, decode)
from gateway.cli import main
sys.exit(main(["run"]))
"""
VIN = "LSVAU2180N2183{:03d}"
T0 = int(time.time() * 1000) - 3_600_000


def message(n: int, poison: bool = False) -> Outgoing:
    doc: dict[str, object] = {"v": 1, "vin": VIN.format(n % 5), "seq": n,
                              "t0": T0 + n * 10_000, "dt": [0, 1000],
                              "signals": {"Vehicle.Speed": [40.0, 41.0]}}
    if poison:
        doc["note"] = "CRASH-ME"
    return Outgoing(0, n, f"vehicles/{VIN.format(n % 5)}/telemetry/json",
                    json.dumps(doc).encode())


def test_a_payload_that_kills_the_process_is_quarantined(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-poison", poison_redeliveries="3",
                 batch_max_messages="50")
    gw.command = ["-c", CRASHING_GATEWAY]
    gw.start()
    try:
        check_quarantine(gw, broker, db_url)
    finally:
        gw.stop()


def check_quarantine(gw: Gateway, broker: Broker, db_url: str) -> None:
    messages = [message(n) for n in range(40)] + [message(40, poison=True)] + \
        [message(n) for n in range(41, 80)]
    pub = Publisher(broker.url)
    try:
        pub.publish(messages)
    finally:
        pub.close()
    deaths = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert gw.proc is not None
        if gw.proc.poll() is not None:
            assert gw.proc.returncode == 3, gw.log.read_text()[-2000:]
            deaths += 1
            gw.launch()  # what a supervisor (systemd, Kubernetes) does
        elif query(db_url, "SELECT count(*) FROM dead_letters WHERE reason_code = 'poison'"
                   )[0][0] == 1:
            break
        time.sleep(0.2)
    wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0] == 79, 30,
               "every good message stored")
    assert deaths == 3  # started 3 times with it in flight, quarantined at the 3rd redelivery
    assert gw.proc is not None and gw.proc.poll() is None
    (row,) = query(db_url, "SELECT payload, reason, decoder FROM dead_letters")
    assert bytes(row[0]) == messages[40].payload
    assert "stopped 3 times" in row[1] and row[2] == "json_v1"
    assert query(db_url, "SELECT count(*) FROM inflight_journal")[0][0] == 0
    assert query(db_url, "SELECT count(*) FROM inflight_batches")[0][0] == 0
    rows = query(db_url, "SELECT count(*), count(DISTINCT (vehicle_id, ts)) FROM samples")[0]
    assert rows == (158, 158)  # 79 messages x 2 rows, none doubled
