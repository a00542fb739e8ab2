"""End to end: simulator -> Mosquitto -> gateway process -> PostgreSQL, against the truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from localservices import Broker, Gateway, query
from tests.fleet_check import assert_matches_truth, load_truth, run_simulator, wait_for_everything

pytestmark = pytest.mark.live
FAULTS = ["--duplicates", "0.03", "--reorder", "0.03", "--gaps", "0.002", "--garbage", "0.002"]


@pytest.mark.both_layouts
def test_fleet_with_faults_is_stored_exactly(broker: Broker, db_url: str, tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    try:
        truth_file = tmp_path / "truth.json"
        sim = run_simulator(broker.url, truth_file, "--vehicles", "50", "--days", "7",
                            "--seed", "7", *FAULTS)
        assert sim.wait(600) == 0
        truth = load_truth(truth_file)
        assert truth["faults"]["duplicated"] > 0 and truth["faults"]["reordered"] > 0
        assert len(truth["garbage"]) >= 6  # every kind at least once
        wait_for_everything(db_url, truth)
        assert_matches_truth(db_url, truth)
        flagged = query(db_url, "SELECT count(*) FROM samples WHERE flags & 1 = 1")[0][0]
        assert flagged == 0  # the simulator's odometers never go backwards
    finally:
        gw.stop()


@pytest.mark.both_layouts
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-sigkill")
    gw.start()
    truth_file = tmp_path / "truth.json"
    sim = run_simulator(broker.url, truth_file, "--vehicles", "30", "--days", "4", "--seed", "3",
                        "--duplicates", "0.02")
    kills = 0
    try:
        while sim.poll() is None and kills < 2:
            time.sleep(2.5)
            if query(db_url, "SELECT count(*) FROM ingest_log")[0][0] > 0:
                gw.kill()
                kills += 1
                time.sleep(1)
                gw.start()
        assert sim.wait(600) == 0
        assert kills >= 1, "the simulator finished before the gateway could be killed"
        truth = load_truth(truth_file)
        wait_for_everything(db_url, truth)
        assert_matches_truth(db_url, truth)
    finally:
        gw.stop()
        if sim.poll() is None:
            sim.kill()


@pytest.mark.both_layouts
def test_a_server_without_autovacuum_is_named_at_start(broker: Broker, db_url: str,
                                                       tmp_path: Path) -> None:
    """Without autovacuum a new partition never gets statistics and derivations slow down
    tenfold: the operator is told at start-up (the system server here runs without it, the
    tests' own TimescaleDB server with it)."""
    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    try:
        off = query(db_url, "SHOW autovacuum")[0][0] == "off"
        assert ("autovacuum is off on this PostgreSQL server" in gw.log.read_text()) == off
    finally:
        gw.stop()
