"""Acknowledgement waits for the commit, and the broker's window bounds what is in flight."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from localservices import Broker, Gateway, query, wait_until
from simulator.fleet import make_fleet
from simulator.publish import Publisher
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth

pytestmark = pytest.mark.live


def test_unacked_messages_survive_a_kill_while_the_database_is_blocked(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-ack", inflight="50",
                 batch_max_messages="20")
    gw.start()
    start = date.today() - timedelta(days=2)
    truth = FleetTruth()
    messages = list(fleet_stream(make_fleet(3, 1, start, 5), start, 1, 5, 900, Faults(), truth))
    assert len(messages) > 200
    pub = Publisher(broker.url)
    pub.publish(messages[:1])
    wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0] == 1, 20, "warm-up")
    blocker = psycopg.connect(db_url)
    try:
        blocker.execute("LOCK TABLE ingest_log IN ACCESS EXCLUSIVE MODE")
        pub.publish(messages[1:])
        # the broker stops at the gateway's Receive Maximum: 50 unacknowledged messages
        wait_until(lambda: gw.get("/health")["in_flight"] == 50, 20, "window full")
        time.sleep(1.0)
        assert gw.get("/health")["in_flight"] == 50
        gw.kill()
    finally:
        blocker.rollback()
        blocker.close()
    pub.close()
    assert query(db_url, "SELECT count(*) FROM ingest_log")[0][0] == 1
    gw.start()
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0]
                   == len(messages), 60, "every message after restart")
        assert query(db_url, "SELECT count(*) FROM samples")[0][0] == sum(
            v.rows for v in truth.vehicles.values())
    finally:
        gw.stop()


@contextmanager
def publishing_while_locked(broker: Broker, db_url: str, table: str,
                            client_id: str) -> Iterator[mqtt.Client]:
    """A connected publisher while ``table`` is locked, so the gateway can commit nothing;
    the lock is released on exit."""
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    blocker = psycopg.connect(db_url)
    try:
        blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield pub
    finally:
        blocker.rollback()
        blocker.close()
        pub.loop_stop()
        pub.disconnect()


def test_qos0_flood_is_bounded_by_reading_less(broker: Broker, db_url: str,
                                                tmp_path: Path) -> None:
    # QoS 0 is outside the broker's window: the gateway stops reading its socket instead
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-qos0", inflight="20",
                 batch_max_messages="10")
    gw.start()
    start = date.today() - timedelta(days=2)
    truth = FleetTruth()
    messages = list(fleet_stream(make_fleet(3, 1, start, 6), start, 1, 6, 900, Faults(), truth))
    with publishing_while_locked(broker, db_url, "ingest_log", "qos0-flood") as pub:
        for m in messages:
            pub.publish(m.topic, m.payload, qos=0).wait_for_publish(5)
        time.sleep(2)
        held = gw.get("/health")["in_flight"]
        assert 0 < held < len(messages) // 2, held  # not everything read into memory
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0]
                   == len(messages), 60, "every QoS 0 message once reading resumed")
    finally:
        gw.stop()


def test_large_payloads_are_bounded_by_bytes_held(broker: Broker, db_url: str,
                                                  tmp_path: Path) -> None:
    # the window counts messages; with big payloads the byte budget stops reading first
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-bytes", inflight_mb="2")
    gw.start()
    size, count = 400_000, 40
    payloads = [bytes([k]) * size for k in range(count)]  # not MessagePack: dead letters
    with publishing_while_locked(broker, db_url, "dead_letters", "big-payloads") as pub:
        for p in payloads:
            pub.publish("vehicles/WVWZZZ1JZ3W386752/telemetry", p, qos=1).wait_for_publish(5)
        time.sleep(2)
        health = gw.get("/health")
        # 2 MB budget: five 400 kB messages, plus the one that crossed it and one read chunk
        assert 0 < health["in_flight"] <= 7, health
        assert health["in_flight_bytes"] <= 2_000_000 + 2 * size, health
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dead_letters")[0][0] == count,
                   60, "every large payload dead-lettered once reading resumed")
        assert query(db_url, "SELECT min(size), max(size) FROM dead_letters")[0] == (size, size)
    finally:
        gw.stop()


def test_a_long_stall_with_big_payloads_causes_no_self_disconnect(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    """The database blocked for STALL_SECONDS (default 100) while big payloads arrive: the
    byte budget pauses reading, the keep-alive goes on without PINGRESPs being read, the
    gateway never drops its own connection, and what it holds stays within the budget."""
    stall = float(os.environ.get("STALL_SECONDS", "100"))
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-long-stall", inflight_mb="2")
    gw.start()
    size, count = 400_000, 30
    peak_bytes, peak_rss = 0, 0.0
    with publishing_while_locked(broker, db_url, "dead_letters", "long-stall") as pub:
        for k in range(count):
            pub.publish("vehicles/WVWZZZ1JZ3W386752/telemetry", bytes([k]) * size,
                        qos=1).wait_for_publish(5)
        deadline = time.monotonic() + stall
        while time.monotonic() < deadline:
            health = gw.get("/health")
            peak_bytes = max(peak_bytes, health["in_flight_bytes"])
            assert gw.proc is not None
            peak_rss = max(peak_rss, _rss_mb(gw.proc.pid))
            assert health["broker_connected"], health
            time.sleep(2)
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dead_letters")[0][0] == count,
                   60, "every payload dead-lettered once the database answered")
        assert peak_bytes <= 2_000_000 + 2 * size
        assert "broker connection lost" not in gw.log.read_text()
        assert metric(gw, "telematics_broker_reconnects_total") == 1
        print(f"stall {stall:.0f} s: peak held {peak_bytes / 1e6:.1f} MB, peak RSS"
              f" {peak_rss:.0f} MB, 1 connection")
    finally:
        gw.stop()


def test_a_restart_into_a_backlog_subscribes_while_the_database_is_blocked(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    """The session holds a backlog while the gateway is down; on restart the broker sends it
    right after CONNACK, ahead of the SUBACK. With the database blocked the byte budget stops
    reading before the SUBACK: that wait is the gateway's own, so it keeps its connection
    instead of timing out and reconnecting."""
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-backlog", inflight_mb="2")
    gw.start()
    gw.stop()  # the session stays on the broker
    size, count = 400_000, 30
    with publishing_while_locked(broker, db_url, "dead_letters", "backlog") as pub:
        for k in range(count):
            pub.publish("vehicles/WVWZZZ1JZ3W386752/telemetry", bytes([k]) * size,
                        qos=1).wait_for_publish(5)
        gw.launch()
        time.sleep(15)  # longer than the client waits for a silent broker's answer
    try:
        gw.wait_subscribed(30)
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dead_letters")[0][0] == count,
                   60, "every queued payload dead-lettered once the database answered")
        assert "broker connection lost" not in gw.log.read_text()
        assert metric(gw, "telematics_broker_reconnects_total") == 1
    finally:
        gw.stop()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metric(gw: Gateway, name: str) -> float:
    import urllib.request
    with urllib.request.urlopen(gw.base + "/metrics", timeout=10) as resp:  # noqa: S310
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise KeyError(name)
