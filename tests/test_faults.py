"""Faults under load, with real Mosquitto and PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from localservices import Broker, Gateway, query, wait_until
from tests.fleet_check import assert_matches_truth, load_truth, run_simulator, wait_for_everything

pytestmark = pytest.mark.live


def _committed(db_url: str) -> int:
    return int(query(db_url, "SELECT count(*) FROM ingest_log")[0][0])


@pytest.mark.both_layouts
def test_three_sigkills_during_sustained_load(broker: Broker, db_url: str,
                                              tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-kill3")
    gw.start()
    truth_file = tmp_path / "truth.json"
    sim = run_simulator(broker.url, truth_file, "--vehicles", "40", "--days", "4", "--seed", "9",
                        "--duplicates", "0.02", "--reorder", "0.02")
    kills = 0
    try:
        last = 0
        while kills < 3:
            wait_until(lambda last=last: _committed(db_url) > last + 2000, 120,  # type: ignore[misc]
                       "progress before a kill")
            gw.kill()
            kills += 1
            last = _committed(db_url)
            time.sleep(0.5)
            gw.start()
        assert sim.wait(600) == 0
        truth = load_truth(truth_file)
        wait_for_everything(db_url, truth)
        assert_matches_truth(db_url, truth)
    finally:
        gw.stop()
        if sim.poll() is None:
            sim.kill()


def test_database_connections_terminated_mid_stream(broker: Broker, db_url: str,
                                                    tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-pgkill")
    gw.start()
    truth_file = tmp_path / "truth.json"
    sim = run_simulator(broker.url, truth_file, "--vehicles", "30", "--days", "3", "--seed", "4")
    name = db_url.rsplit("/", 1)[1]
    try:
        terminated = 0
        for _ in range(4):
            last = _committed(db_url)
            wait_until(lambda last=last: _committed(db_url) > last + 1000  # type: ignore[misc]
                       or sim.poll() is not None, 120,
                       "progress")
            terminated += query(db_url, "SELECT count(pg_terminate_backend(pid)) FROM"
                                " pg_stat_activity WHERE datname = %s AND application_name"
                                " LIKE 'gateway-%%'", (name,))[0][0]
        assert terminated >= 4
        assert sim.wait(600) == 0
        truth = load_truth(truth_file)
        wait_for_everything(db_url, truth)
        assert_matches_truth(db_url, truth)
        errors = [line for line in gw.log.read_text().splitlines() if "storage error" in line]
        assert errors, "the writers should have seen the terminated connections"
    finally:
        gw.stop()
        if sim.poll() is None:
            sim.kill()


def test_broker_restart_resumes_the_persistent_session(broker: Broker, db_url: str,
                                                       tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-brokerrestart",
                 inflight="1000")
    gw.start()
    first = tmp_path / "truth1.json"
    # commits held back, so the broker surely still holds a backlog for the gateway
    blocker = psycopg.connect(db_url)
    blocker.execute("LOCK TABLE ingest_log IN ACCESS EXCLUSIVE MODE")
    try:
        assert run_simulator(broker.url, first, "--vehicles", "15", "--days", "3",
                             "--seed", "12").wait(600) == 0
        backlog = sum(v["messages"] for v in load_truth(first)["vehicles"].values())
        broker.stop()  # SIGTERM: Mosquitto writes its persistence file
        assert backlog > 1000 and gw.get("/health")["in_flight"] <= 1000
    finally:
        blocker.rollback()
        blocker.close()
    time.sleep(1)
    broker.start()
    wait_until(lambda: bool(gw.get("/health")["broker_connected"]), 30, "gateway reconnected")
    second = tmp_path / "truth2.json"
    assert run_simulator(broker.url, second, "--vehicles", "15", "--days", "3",
                         "--seed", "13").wait(600) == 0
    try:
        t1, t2 = load_truth(first), load_truth(second)
        merged = {"vehicles": {**t1["vehicles"], **t2["vehicles"]},
                  "garbage": t1["garbage"] + t2["garbage"], "faults": {}}
        wait_for_everything(db_url, merged)
        assert_matches_truth(db_url, merged)
        assert gw.get("/health")["mqtt_session_lost"] == 0  # persistence kept the session
    finally:
        gw.stop()


def test_three_replicas_share_the_load_and_survive_losing_one(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    replicas = [Gateway(broker.url, db_url, tmp_path, client_id=f"gw-replica-{i}",
                        shared_group="ingest") for i in range(3)]
    for gw in replicas:
        gw.start()
    truth_file = tmp_path / "truth.json"
    sim = run_simulator(broker.url, truth_file, "--vehicles", "30", "--days", "4", "--seed", "8",
                        "--duplicates", "0.02")
    try:
        wait_until(lambda: _committed(db_url) > 3000, 120, "load spread over replicas")
        replicas[1].kill()
        time.sleep(3)
        replicas[1].start()  # same client id: its session's unacked messages come back
        assert sim.wait(600) == 0
        truth = load_truth(truth_file)
        wait_for_everything(db_url, truth)
        assert_matches_truth(db_url, truth)
        shares = [_received(r) for r in replicas]
        assert sum(1 for s in shares if s > 0) >= 2, shares
    finally:
        for gw in replicas:
            gw.stop()
        if sim.poll() is None:
            sim.kill()


def _received(gw: Gateway) -> float:
    import urllib.request

    with urllib.request.urlopen(gw.base + "/metrics", timeout=10) as resp:  # noqa: S310
        for line in resp.read().decode().splitlines():
            if line.startswith("telematics_messages_received_total "):
                return float(line.split()[1])
    return 0.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_database_stall_keeps_memory_bounded_and_drains_after(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    import psycopg

    stall_s = float(os.environ.get("STALL_SECONDS", "15"))
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-stall", inflight="1000")
    gw.start()
    assert gw.proc is not None
    warm = tmp_path / "warm.json"
    assert run_simulator(broker.url, warm, "--vehicles", "2", "--days", "1",
                         "--seed", "30").wait(120) == 0
    wait_for_everything(db_url, load_truth(warm))
    blocker = psycopg.connect(db_url)
    truth_file = tmp_path / "truth.json"
    try:
        blocker.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        sim = run_simulator(broker.url, truth_file, "--vehicles", "25", "--days", "3",
                            "--seed", "31")
        assert sim.wait(600) == 0  # the broker took everything while the database was stuck
        peak_rss, peak_inflight = 0.0, 0
        deadline = time.monotonic() + stall_s
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, _rss_mb(gw.proc.pid))
            peak_inflight = max(peak_inflight, gw.get("/health")["in_flight"])
            time.sleep(0.5)
        assert peak_inflight <= 1000  # the MQTT 5 Receive Maximum
        assert peak_rss < 300, peak_rss
        committed_during_stall = _committed(db_url)
    finally:
        blocker.rollback()
        blocker.close()
    truth = load_truth(truth_file)
    total = sum(v["messages"] for v in truth["vehicles"].values())
    assert total > 5 * 1000 and committed_during_stall < total
    merged = {"vehicles": {**load_truth(warm)["vehicles"], **truth["vehicles"]},
              "garbage": [], "faults": {}}
    wait_for_everything(db_url, merged)
    assert_matches_truth(db_url, merged)
    gw.stop()
    print(f"stall {stall_s}s: peak in-flight {peak_inflight}, peak RSS {peak_rss:.0f} MB")
