"""Acknowledgement waits for the commit, and the broker's window bounds what is in flight."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

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
