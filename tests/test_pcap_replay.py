"""Replay from a pcap made by tcpdump of real MQTT traffic on loopback."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.ops.pcap import publishes
from localservices import ROOT, Broker, create_database, drop_database, query
from tests.fleet_check import assert_matches_truth, load_truth, run_simulator

pytestmark = pytest.mark.live


def test_tcpdump_capture_replays_into_an_empty_database(broker: Broker, tmp_path: Path) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump not installed (scripts/setup.sh installs it)")
    pcap = tmp_path / "mqtt.pcap"
    # -B: a large kernel buffer, or a fast loopback stream loses packets in the capture
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-B", "262144", "-s", "0", "-w",
                             str(pcap), "tcp", "port", str(broker.port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.5)  # tcpdump is listening
    truth_file = tmp_path / "truth.json"
    assert run_simulator(broker.url, truth_file, "--vehicles", "3", "--days", "1", "--seed", "50",
                         "--duplicates", "0.05", "--garbage", "0.01").wait(120) == 0
    # one MQTT 5 publish too (properties between topic and payload)
    subprocess.run(["mosquitto_pub", "-V", "5", "-p", str(broker.port), "-q", "1", "-t",
                    "vehicles/WVWZZZ1JZXW000071/telemetry/json", "-D", "publish",
                    "content-type", "application/json", "-m", "{\"v\": 3}"], check=True)
    time.sleep(1.5)
    dump.send_signal(signal.SIGINT)
    dump.wait(10)
    truth = load_truth(truth_file)
    published = sum(v["messages"] for v in truth["vehicles"].values()) \
        + truth["faults"].get("duplicated", 0) + len(truth["garbage"])
    records = list(publishes(pcap, broker.port))
    assert len(records) == published + 1
    assert records[-1].payload == b'{"v": 3}' and records[-1].topic.endswith("/json")
    db = create_database()
    try:
        subprocess.run([sys.executable, "-m", "gateway", "replay", str(pcap), "--direct",
                        "--pcap-port", str(broker.port), "--db-url", db], cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
        assert_matches_truth_plus_one(db, truth)
    finally:
        drop_database(db)


def assert_matches_truth_plus_one(db: str, truth: dict[str, Any]) -> None:
    """The simulator's data exactly, plus the v5 message as an unsupported_version letter."""
    v3 = query(db, "DELETE FROM dead_letters WHERE reason_code = 'unsupported_version' AND"
                   " vin = 'WVWZZZ1JZXW000071' RETURNING reason")
    assert v3 == [("contract version 3 not supported (supported: 1, 2)",)]
    assert_matches_truth(db, truth)
