"""A broker that forgets the gateway's session: Mosquitto killed and restarted without its
persistence file during a simulator run. The gateway reconnects at once, says loudly that
the session is lost (error log, counter, /health, /ready, status page data), and whatever
the broker dropped is counted by the difference against the truth, never silently."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest

from localservices import Broker, Gateway, query, wait_until
from tests.fleet_check import load_truth, run_simulator

pytestmark = pytest.mark.live


def test_a_broker_restart_without_persistence_is_a_visible_session_loss(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-session-loss")
    gw.start()
    try:
        truth_file = tmp_path / "truth.json"
        assert run_simulator(broker.url, truth_file, "--vehicles", "5", "--days", "1",
                             "--seed", "51").wait(600) == 0
        messages = sum(v["messages"] for v in load_truth(truth_file)["vehicles"].values())
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0] == messages,
                   120, "the first fleet committed")
        assert gw.get("/health")["mqtt_session_lost"] == 0
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGKILL)  # no chance to save anything
        broker.proc.wait(10)
        for f in broker.data.iterdir():
            f.unlink()  # and its persistence file is gone too
        broker.start()
        wait_until(lambda: gw.get("/health")["mqtt_session_lost"] == 1, 30,
                   "the lost session reported")
        health = gw.get("/health")
        assert health["broker_connected"] and health["mqtt_session_lost_at_ms"] > 0
        with urllib.request.urlopen(gw.base + "/ready", timeout=10) as resp:  # noqa: S310
            ready = json.loads(resp.read())
        assert ready["mqtt_session_lost"] == 1
        with urllib.request.urlopen(gw.base + "/metrics", timeout=10) as resp:  # noqa: S310
            assert "telematics_mqtt_session_lost_total 1.0" in resp.read().decode()
        assert "did not keep the MQTT session" in gw.log.read_text()
    finally:
        gw.stop()
