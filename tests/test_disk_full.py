"""A real full disk under the samples partition: retried, reported, nothing dropped."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import msgpack
import psycopg
import pytest
from psycopg import sql

from localservices import PG_ADMIN, Broker, Gateway, query, wait_until
from simulator.publish import Publisher
from simulator.stream import Outgoing
from timeseries.partitions import week_start

pytestmark = pytest.mark.live
VIN = "WVWZZZ1JZXW000061"


def test_disk_full_is_transient_and_resumes_when_space_returns(
        broker: Broker, db_url: str, tmp_path: Path) -> None:
    mnt = Path(f"/tmp/tgfull-{uuid.uuid4().hex[:8]}")  # noqa: S108 - a mount point
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        mnt.rmdir()
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    shutil.chown(mnt, "postgres", "postgres")
    space = f"tgfull_{uuid.uuid4().hex[:8]}"
    gw = Gateway(broker.url, db_url, tmp_path, client_id="gw-diskfull")
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                sql.Identifier(space), sql.Literal(str(mnt))))
        gw.start()  # migrates
        t0 = int(time.time() * 1000) - 300 * 86_400_000
        week = week_start(t0)
        day = time.strftime("%Y%m%d", time.gmtime(week / 1000))
        with psycopg.connect(db_url, autocommit=True) as c:
            # the week's samples partition lives on the small disk; the function then
            # creates the other tables' partitions and skips this one (same name)
            c.execute(sql.SQL(
                "CREATE TABLE {name} PARTITION OF samples FOR VALUES FROM"
                " (to_timestamp({lo} / 1000.0)) TO (to_timestamp({hi} / 1000.0))"
                " TABLESPACE {sp}").format(
                    name=sql.Identifier(f"samples_w{day}"),
                    lo=sql.Literal(week), hi=sql.Literal(week + 7 * 86_400_000),
                    sp=sql.Identifier(space)))
            c.execute("SELECT telematics_create_week(%s)", (week,))  # the other tables
        signals = {n: [float(i % 50) for i in range(10)] for n in (
            "Vehicle.Speed", "Vehicle.TraveledDistance", "Vehicle.Powertrain.Range",
            "Vehicle.Exterior.AirTemperature", "Vehicle.Cabin.Infotainment.Media.Volume")}
        msgs = [Outgoing(0, i, f"vehicles/{VIN}/telemetry", msgpack.packb(
            {"v": 1, "vin": VIN, "seq": i, "t0": week + 60_000 + i * 10_000,
             "dt": list(range(0, 10_000, 1000)), "signals": signals})) for i in range(3000)]
        pub = Publisher(broker.url)
        pub.publish(msgs)
        pub.close()
        wait_until(lambda: "DiskFull" in gw.log.read_text(), 120, "the disk to fill up")
        time.sleep(2)
        assert query(db_url, "SELECT count(*) FROM dead_letters")[0][0] == 0
        assert query(db_url, "SELECT count(*) FROM ingest_log")[0][0] < 3000
        subprocess.run(["mount", "-o", "remount,size=256m", str(mnt)], check=True)
        wait_until(lambda: query(db_url, "SELECT count(*) FROM ingest_log")[0][0] == 3000, 180,
                   "everything after space came back")
        assert query(db_url, "SELECT count(*) FROM samples")[0][0] == 30_000
        assert query(db_url, "SELECT count(*) FROM dead_letters")[0][0] == 0
    finally:
        gw.stop()
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("DROP TABLE IF EXISTS samples CASCADE")
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(sql.Identifier(space)))
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()
