"""The gateway runs with a role that can only read and write rows (docs/security.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import msgpack
import psycopg
import pytest
from psycopg import sql

from localservices import PG_ADMIN, ROOT, Broker, Gateway, query, wait_until
from simulator.publish import Publisher
from simulator.stream import Outgoing

pytestmark = pytest.mark.live
VIN = "WVWZZZ1JZXW000031"


def test_least_privilege_gateway_role(broker: Broker, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    owner, gw_role, db = f"tg_owner_{tag}", f"tg_gw_{tag}", f"tg_roles_{tag}"
    base = PG_ADMIN.rsplit("/", 1)[0]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for role in (owner, gw_role):
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db),
                                                                     sql.Identifier(owner)))
    admin_db = f"{base}/{db}"
    owner_url = re.sub(r"//[^@/]*@", f"//{owner}@", admin_db)
    gw_url = re.sub(r"//[^@/]*@", f"//{gw_role}@", admin_db)
    try:
        with psycopg.connect(admin_db, autocommit=True) as c:
            c.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
        subprocess.run([sys.executable, "-m", "gateway", "migrate", "--db-url", owner_url],
                       cwd=ROOT, check=True, env=os.environ.copy(), capture_output=True)
        with psycopg.connect(owner_url, autocommit=True) as c:
            g = sql.Identifier(gw_role)
            for stmt in (
                "GRANT USAGE ON SCHEMA public TO {}",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}",
                "GRANT EXECUTE ON FUNCTION telematics_create_week(bigint) TO {}",
            ):
                c.execute(sql.SQL(stmt).format(g))
        gw = Gateway(broker.url, gw_url, tmp_path)
        gw.start()
        try:
            old = int(time.time() * 1000) - 400 * 86_400_000  # needs a new weekly partition
            payload = msgpack.packb({"v": 1, "vin": VIN, "seq": 1, "t0": old, "dt": [0],
                                     "signals": {"Vehicle.Speed": [12.0]}})
            pub = Publisher(broker.url)
            pub.publish([Outgoing(0, 0, f"vehicles/{VIN}/telemetry", payload)])
            pub.close()
            wait_until(lambda: query(admin_db, "SELECT count(*) FROM samples")[0][0] == 1, 30,
                       "stored through the restricted role")
            # a privilege lost mid-stream: retried (transient), never dead-lettered, resumes
            with psycopg.connect(owner_url, autocommit=True) as c:
                c.execute(sql.SQL("REVOKE INSERT ON samples FROM {}").format(
                    sql.Identifier(gw_role)))
            second = msgpack.packb({"v": 1, "vin": VIN, "seq": 2, "t0": old + 1000, "dt": [0],
                                    "signals": {"Vehicle.Speed": [13.0]}})
            pub = Publisher(broker.url)
            pub.publish([Outgoing(0, 1, f"vehicles/{VIN}/telemetry", second)])
            pub.close()
            wait_until(lambda: "InsufficientPrivilege" in gw.log.read_text(), 30,
                       "the writer hit the missing privilege")
            assert query(admin_db, "SELECT count(*) FROM dead_letters")[0][0] == 0
            assert query(admin_db, "SELECT count(*) FROM samples")[0][0] == 1
            with psycopg.connect(owner_url, autocommit=True) as c:
                c.execute(sql.SQL("GRANT INSERT ON samples TO {}").format(
                    sql.Identifier(gw_role)))
            wait_until(lambda: query(admin_db, "SELECT count(*) FROM samples")[0][0] == 2, 60,
                       "resumed after the grant")
        finally:
            gw.stop()
        with psycopg.connect(gw_url, autocommit=True) as c, pytest.raises(
                psycopg.errors.InsufficientPrivilege):
            c.execute("DROP TABLE samples")
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(db)))
            for role in (gw_role, owner):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
