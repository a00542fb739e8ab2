"""Capture live traffic, replay it into empty databases (direct and through a broker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.ops.capture import read
from localservices import ROOT, Broker, Gateway, create_database, drop_database, query, wait_until
from tests.fleet_check import assert_matches_truth, load_truth, run_simulator, wait_for_everything

pytestmark = pytest.mark.live


def gateway_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, check=True)


def test_capture_then_replay_direct_and_to_a_broker(broker: Broker, db_url: str,
                                                    tmp_path: Path) -> None:
    cap = tmp_path / "traffic.cap"
    capturer = subprocess.Popen([sys.executable, "-m", "gateway", "capture", "--out", str(cap),
                                 "--mqtt-url", broker.url, "--max-mb", "5"], cwd=ROOT)
    wait_until(lambda: cap.exists(), 10, "capture file")
    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    truth_file = tmp_path / "truth.json"
    assert run_simulator(broker.url, truth_file, "--vehicles", "6", "--days", "2", "--seed", "40",
                         "--duplicates", "0.05", "--garbage", "0.01").wait(300) == 0
    truth = load_truth(truth_file)
    published = sum(v["messages"] for v in truth["vehicles"].values()) \
        + truth["faults"].get("duplicated", 0) + len(truth["garbage"])
    wait_until(lambda: sum(1 for _ in read(cap)) >= published, 60, "capture complete")
    capturer.terminate()
    capturer.wait(10)
    assert cap.with_name("traffic.cap.1").exists()  # rotated past 5 MB
    wait_for_everything(db_url, truth)
    gw.stop()

    direct_db = create_database()
    try:
        gateway_cli("replay", str(cap), "--direct", "--db-url", direct_db)
        assert_matches_truth(direct_db, truth)
        before = query(direct_db, "SELECT count(*), sum(times) FROM dead_letters")
        gateway_cli("replay", str(cap), "--direct", "--db-url", direct_db)  # twice: no change
        assert_matches_truth(direct_db, truth)
        assert query(direct_db, "SELECT count(*) FROM dead_letters")[0][0] == before[0][0]
        out = gateway_cli("replay-dead-letters", "--reason", "malformed", "--db-url", direct_db)
        assert '"outcome": "still_rejected"' in out.stdout
    finally:
        drop_database(direct_db)

    broker2 = Broker(tmp_path / "broker2")
    broker2.start()
    db2 = create_database()
    gw2 = Gateway(broker2.url, db2, tmp_path)
    try:
        gw2.start()
        one_vin = next(iter(truth["vehicles"]))
        gateway_cli("replay", str(cap), "--to-broker", broker2.url, "--speed", "100000",
                    "--vin", one_vin)
        only = {"vehicles": {one_vin: truth["vehicles"][one_vin]},
                "garbage": [g for g in truth["garbage"] if one_vin in g["topic"]], "faults": {}}
        wait_for_everything(db2, only)
        assert_matches_truth(db2, only)
    finally:
        gw2.stop()
        broker2.stop()
        drop_database(db2)
