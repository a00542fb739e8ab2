"""Interoperability with other brokers, each started privately from the machine's
packages: the NATS server's MQTT support (3.1.1, JetStream-backed sessions), RabbitMQ's
MQTT plugin (3.1.1) and ejabberd's mod_mqtt (MQTT 5). The gateway starts on
``--mqtt-protocol auto``: NATS and RabbitMQ refuse MQTT 5, so it falls back to 3.1.1. The
simulator's fleet is published, the broker restarted, a second fleet published:
everything committed, nothing doubled (the stored rows equal the truth)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from localservices import Broker, Gateway, create_database, drop_database, query, wait_until
from localservices.brokers import EjabberdBroker, NatsBroker, RabbitBroker
from tests.fleet_check import assert_matches_truth, load_truth, run_simulator, wait_for_everything

pytestmark = pytest.mark.live


def drain_rate(db_url: str) -> float:
    """Committed messages per second over the run (first to last commit)."""
    n, seconds = query(db_url, "SELECT count(*), extract(epoch FROM max(committed_at)"
                       " - min(committed_at)) FROM ingest_log")[0]
    return float(n) / max(float(seconds), 1e-3)


def round_trip(broker: Any, db_url: str, tmp_path: Path, seed: int,
               protocol: str = "3.1.1", fleet: tuple[str, str] = ("8", "2"),
               sessions_lost: int = 0, **settings: str) -> float:
    """Two fleets (vehicles, days) around a broker restart; returns the first fleet's
    commit rate."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    broker.start()
    gw = Gateway(broker.url, db_url, tmp_path, client_id=f"gw-interop-{seed}",
                 mqtt_protocol="auto", **settings)
    try:
        gw.start(60)
        assert gw.get("/health")["mqtt_protocol"] == protocol
        if protocol == "3.1.1":
            assert "falling back to MQTT 3.1.1" in gw.log.read_text()
        first, second = tmp_path / "truth1.json", tmp_path / "truth2.json"
        assert run_simulator(broker.url, first, "--vehicles", fleet[0], "--days", fleet[1],
                             "--seed", str(seed)).wait(600) == 0
        wait_for_everything(db_url, load_truth(first), 300)
        rate = drain_rate(db_url)
        broker.stop()
        time.sleep(1)
        broker.start()
        wait_until(lambda: bool(gw.get("/health")["broker_connected"]), 60,
                   "gateway reconnected")
        assert run_simulator(broker.url, second, "--vehicles", fleet[0], "--days", fleet[1],
                             "--seed", str(seed + 1)).wait(600) == 0
        t1, t2 = load_truth(first), load_truth(second)
        merged = {"vehicles": {**t1["vehicles"], **t2["vehicles"]},
                  "garbage": t1["garbage"] + t2["garbage"], "faults": {}}
        wait_for_everything(db_url, merged, 300)
        assert_matches_truth(db_url, merged)
        # NATS and RabbitMQ keep sessions on disk; ejabberd keeps them in memory: its restart
        # is a lost session, reported (nothing was queued for us at that moment)
        assert gw.get("/health")["mqtt_session_lost"] == sessions_lost
        return rate
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


@pytest.mark.skipif(not EjabberdBroker.available(), reason="ejabberd not installed")
def test_ejabberd_mqtt5_and_what_one_message_in_flight_costs(tmp_path: Path) -> None:
    """ejabberd's mod_mqtt delivers one QoS 1 message at a time per session (it ignores
    Receive Maximum): with ack after commit every message waits for its own batch, and a
    batch waits ``--batch-max-wait-ms`` for company that cannot come. The same small fleet
    through ejabberd (default wait, and no wait) and Mosquitto, side by side."""
    rates = {}
    for name, make, settings in (
            ("ejabberd, batch wait 50 ms", EjabberdBroker, {}),
            ("ejabberd, batch wait 0 ms", EjabberdBroker, {"batch_max_wait_ms": "0"}),
            ("Mosquitto, batch wait 50 ms", None, {})):
        db = create_database()
        folder = tmp_path / name.split(",")[0] / settings.get("batch_max_wait_ms", "50")
        broker: Any = make() if make else Broker(folder / "broker")
        try:
            rates[name] = round_trip(broker, db, folder, 61, protocol="5", fleet=("2", "1"),
                                     sessions_lost=1 if make else 0, **settings)
        finally:
            drop_database(db)
            if make:
                broker.remove()
    base = rates["Mosquitto, batch wait 50 ms"]
    print("\ncommit rate of the same fleet: " + "; ".join(
        f"{k} {v:,.0f} msg/s ({v / base:.2f} of Mosquitto)" for k, v in rates.items()))
