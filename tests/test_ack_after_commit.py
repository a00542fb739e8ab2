"""Acknowledgement waits for the commit, and the broker's window bounds what is in flight."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.fleet import make_fleet
from simulator.publish import Publisher
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests.services import Broker, Gateway, query, wait_until

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


def test_qos0_flood_is_bounded_by_reading_less(broker: Broker, db_url: str,
                                                tmp_path: Path) -> None:
    # QoS 0 is outside the broker's window: the gateway stops reading its socket instead
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-qos0", inflight="20",
                 batch_max_messages="10")
    gw.start()
    start = date.today() - timedelta(days=2)
    truth = FleetTruth()
    messages = list(fleet_stream(make_fleet(3, 1, start, 6), start, 1, 6, 900, Faults(), truth))
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="qos0-flood")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    blocker = psycopg.connect(db_url)
    try:
        blocker.execute("LOCK TABLE ingest_log IN ACCESS EXCLUSIVE MODE")
        for m in messages:
            pub.publish(m.topic, m.payload, qos=0).wait_for_publish(5)
        time.sleep(2)
        held = gw.get("/health")["in_flight"]
        assert 0 < held < len(messages) // 2, held  # not everything read into memory
    finally:
        blocker.rollback()
        blocker.close()
        pub.loop_stop()
        pub.disconnect()
    try:
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0]
                   == len(messages), 60, "every QoS 0 message once reading resumed")
    finally:
        gw.stop()
