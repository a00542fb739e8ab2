"""Interoperability with other brokers (MQTT 3.1.1): the NATS server's MQTT support
(JetStream-backed sessions) and RabbitMQ's MQTT plugin, each started privately from the
machine's packages. The gateway starts on ``--mqtt-protocol auto``: both refuse MQTT 5, so
it falls back to 3.1.1. The simulator's fleet is published, the broker restarted, a second
fleet published: everything committed, nothing doubled (the stored rows equal the truth)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from localservices import Gateway, wait_until
from localservices.brokers import NatsBroker, RabbitBroker
from tests.fleet_check import assert_matches_truth, load_truth, run_simulator, wait_for_everything

pytestmark = pytest.mark.live


def round_trip(broker: Any, db_url: str, tmp_path: Path, seed: int) -> None:
    broker.start()
    gw = Gateway(broker.url, db_url, tmp_path, client_id=f"gw-interop-{seed}",
                 mqtt_protocol="auto")
    try:
        gw.start(60)
        assert gw.get("/health")["mqtt_protocol"] == "3.1.1"
        assert "falling back to MQTT 3.1.1" in gw.log.read_text()
        first, second = tmp_path / "truth1.json", tmp_path / "truth2.json"
        assert run_simulator(broker.url, first, "--vehicles", "8", "--days", "2",
                             "--seed", str(seed)).wait(600) == 0
        broker.stop()
        time.sleep(1)
        broker.start()
        wait_until(lambda: bool(gw.get("/health")["broker_connected"]), 60,
                   "gateway reconnected")
        assert run_simulator(broker.url, second, "--vehicles", "8", "--days", "2",
                             "--seed", str(seed + 1)).wait(600) == 0
        t1, t2 = load_truth(first), load_truth(second)
        merged = {"vehicles": {**t1["vehicles"], **t2["vehicles"]},
                  "garbage": t1["garbage"] + t2["garbage"], "faults": {}}
        wait_for_everything(db_url, merged, 300)
        assert_matches_truth(db_url, merged)
        assert gw.get("/health")["mqtt_session_lost"] == 0  # both keep durable sessions
    finally:
        gw.stop()
        broker.stop()


def test_nats_server_mqtt(db_url: str, tmp_path: Path) -> None:
    round_trip(NatsBroker(tmp_path / "nats"), db_url, tmp_path, 31)


@pytest.mark.skipif(not RabbitBroker.available(), reason="rabbitmq-server not installed")
def test_rabbitmq_mqtt_plugin(db_url: str, tmp_path: Path) -> None:
    broker = RabbitBroker()
    try:
        round_trip(broker, db_url, tmp_path, 41)
    finally:
        broker.remove()
