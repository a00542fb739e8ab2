"""The fleet soak: how many cars one box carries, with everything on.

    .venv/bin/python -m benchmarks.soak [--cars 1000000] [--carried-cars 10000]
        [--peak-s 40] [--carried-s 120] [--server timescaledb|own|system]

One gateway (derivations, profile snapshots, events on; the shipped defaults), its own
Mosquitto with the project's config, its own PostgreSQL server (with TimescaleDB by
default; autovacuum on, fsync on), and two publisher processes (``soak_load.py``), all on
this machine's cores. In order:

1. **Registry**: ``--cars`` vehicles registered (five time zones, the simulator's models,
   300 dealers), with ``--history-days`` of daily usage, feature use and software history
   made in SQL, so the date change has a fleet's worth of profiles and periods to redo.
2. **The carried fleet's day**: ``--carried-cars`` cars, a night (every car parked, a
   heartbeat every 15 minutes, ``--night-s``) and a commute peak (30 % driving, a
   10-second window every 10 s each, in four wire formats, with duplicates and catch-ups,
   ``--carried-s``): the lag vehicle -> committed and -> visible in the API, and how far
   the derivations fall behind, at a load the box should hold; then the derivations alone
   until they caught up (their rate and CPU per pass).
3. **The whole fleet's night and peak** (``--night-s``, ``--peak-s``); the backlog then
   drains. The rate the gateway took is what one box ingests.
4. **Date change**: the refresh of every vehicle's profiles and stored periods, as the
   gateway runs it when the UTC date changes.
5. **Export** of every profile over HTTP.

The API is read throughout (profiles, a dealer's worklist, the events feed, and probes of
driving cars' last sample). CPU per component per phase comes from /proc; storage per
sample row from the growth of the raw tables.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.harness import (
    SERVER_CHOICES,
    cpu_of,
    peak_rss_mb,
    proc_cpu,
    server_of_choice,
    tree_cpu,
)
from benchmarks.insights import FEATURES, GENERATE
from benchmarks.soak_api import ApiReader
from benchmarks.soak_load import PEAK_SHARE, WIRE_OF, catching_up, drives, fleet_rate
from benchmarks.soak_report import Outcome, print_report
from benchmarks.soak_templates import make_templates
from gateway.schema import migrate
from localservices import (
    ROOT,
    Broker,
    Gateway,
    create_database,
    drop_database,
    wait_until,
)
from timeseries.db import connect

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Shanghai", "America/Los_Angeles",
         "Asia/Tokyo"]
# a database server as production would run it on this box: autovacuum on (the default;
# the system server here has it off, and then new partitions are never analyzed),
# a quarter of the memory as shared buffers
SERVER_SETTINGS = {"shared_buffers": "4GB", "max_wal_size": "8GB", "autovacuum": "on"}
# cars polled through the API for the lag to visibility: driving at the peak, sending
# windows (not protobuf records), not offline; within the carried fleet
PROBES = [c for c in range(0, 10_000, 97) if drives(c, PEAK_SHARE) and WIRE_OF[c % 100] != "pb"
          and not catching_up(c)][:10]


async def _migrate(url: str) -> None:
    async with await connect(url) as conn:
        await migrate(conn)


def register(conn: psycopg.Connection[Any], cars: int, days: int) -> float:
    """Vehicles and their history, generated in SQL; returns the seconds it took."""
    t0 = time.perf_counter()
    tpl = make_templates()
    # a car's wire format is WIRE_OF[c % 100]: register it with that format's model
    models = "ARRAY[" + ", ".join(f"'{tpl[w].model}'" for w in WIRE_OF) + "]"
    powers = "ARRAY[" + ", ".join(f"'{tpl[w].powertrain}'" for w in WIRE_OF) + "]"
    zones = "ARRAY[" + ", ".join(f"'{z}'" for z in ZONES) + "]"
    conn.execute(f"""
        INSERT INTO vehicles (vin, registered, model, powertrain, timezone, delivered_on,
            owner_id, dealer_id, activity)
        SELECT 'SXAKW' || lpad(c::text, 12, '0'), true, ({models})[1 + c %% 100],
               ({powers})[1 + c %% 100],
               ({zones})[1 + (c / 7) %% {len(ZONES)}], current_date - (c * 37) %% 1500,
               'owner-' || c, 'dealer-' || c %% 300, 'active'
        FROM generate_series(0, %(n)s - 1) c ORDER BY c""".encode(), {"n": cars})
    conn.execute("INSERT INTO dealers (id, name, timezone) SELECT 'dealer-' || i,"
                 " 'Dealer ' || i, 'Europe/Berlin' FROM generate_series(0, 299) i")
    for stmt in GENERATE[1:]:
        conn.execute(stmt.encode(), {"days": days, "features": FEATURES})
    conn.execute("INSERT INTO storage_meta (key, value) VALUES ('profiles_as_of',"
                 " current_date::text) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    conn.execute("DELETE FROM dirty_hours")
    return time.perf_counter() - t0


@dataclass(slots=True)
class Phase:
    """One stretch of publishing and what it cost."""

    name: str
    cars: int
    share: float
    seconds: int
    start: int = 0
    sent: int = 0
    duplicates: int = 0
    behind_s: float = 0.0
    publisher_cpu_s: float = 0.0
    cpu: dict[str, float] | None = None


class Soak:
    """The services, the gateway and the measurements."""

    def __init__(self, work: Path, a: argparse.Namespace) -> None:
        self.a = a
        self.server = server_of_choice(a.server, SERVER_SETTINGS)
        self.broker = Broker(work / "broker")
        self.broker.start()
        self.db = create_database("tg_soak")
        self.gw = Gateway(self.broker.url, self.db, work, client_id="soak-gw")
        self.conn = psycopg.connect(self.db, autocommit=True)
        self.api: ApiReader | None = None
        self.phases: list[Phase] = []
        self.report: list[tuple[Phase, dict[str, Any]]] = []

    def close(self) -> None:
        """Stop everything, drop the database."""
        if self.api:
            self.api.stop()
        self.gw.stop()
        self.broker.stop()
        self.conn.close()
        drop_database(self.db)
        if self.server:
            self.server.stop()

    def scalar(self, query: str, params: Any = None) -> Any:
        """One value."""
        row = self.conn.execute(query.encode(), params).fetchone()
        return row[0] if row else None

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the gateway, PostgreSQL and Mosquitto."""
        assert self.gw.proc is not None and self.broker.proc is not None
        pg = tree_cpu(self.server.proc.pid) if self.server and self.server.proc else \
            cpu_of("postgres")
        return {"gateway": proc_cpu(self.gw.proc.pid), "postgres": pg,
                "mosquitto": proc_cpu(self.broker.proc.pid)}

    def publish(self, phase: Phase) -> Phase:
        """Run the phase's publishers to the end."""
        phase.start = int(time.time()) + 3
        procs = [subprocess.Popen(
            [sys.executable, "-m", "benchmarks.soak_load", self.broker.url, str(k), "2",
             "--cars", str(phase.cars), "--start", str(phase.start), "--seconds",
             str(phase.seconds), "--driving", str(phase.share)], cwd=ROOT,
            stdout=subprocess.PIPE) for k in range(2)]
        if self.api:
            self.api.phase = phase.name
        for p in procs:
            out, _ = p.communicate(timeout=phase.seconds + 900)
            if p.returncode:
                raise RuntimeError(f"publisher failed ({p.returncode})")
            r = json.loads(out)
            phase.sent += r["sent"]
            phase.duplicates += r["duplicates"]
            phase.behind_s = max(phase.behind_s, r["behind_s"])
            phase.publisher_cpu_s += r["cpu_s"]
        return phase

    def expected(self) -> int:
        """Unique messages sent so far in every phase."""
        return sum(p.sent - p.duplicates for p in self.phases)

    def drained(self) -> bool:
        """Whether every unique message sent so far is committed or dead-lettered."""
        return bool(self.scalar("SELECT (SELECT count(*) FROM ingest_log) + (SELECT count(*)"
                                " FROM dead_letters)") >= self.expected())

    def stats(self, phase: Phase) -> dict[str, Any]:
        """Committed rate and lag (vehicle -> committed) of the phase's messages."""
        row = self.conn.execute(
            "SELECT count(*), extract(epoch FROM max(committed_at) - min(received_at)),"
            " percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY lag)"
            " FILTER (WHERE live), max(lag) FILTER (WHERE live), sum(sample_values)"
            " FROM (SELECT *, extract(epoch FROM committed_at - t0) - greatest(rows - 1, 0)"
            " AS lag, rows > 0 AND topic NOT LIKE '%%/pb'"
            " AND (substr(topic, 15, 12)::bigint %% 200 <> 7"
            " OR t0 >= to_timestamp(%(half)s)) AS live FROM ingest_log"
            " WHERE t0 >= to_timestamp(%(lo)s) AND t0 < to_timestamp(%(hi)s)) l",
            {"lo": phase.start - 10, "hi": phase.start + phase.seconds,
             "half": phase.start + phase.seconds // 2}).fetchone()
        assert row is not None
        n, secs, pct, worst, values = row
        secs = float(secs or 0)
        pct = [float(x) for x in pct] if pct else None
        values = float(values or 0)
        worst = float(worst) if worst is not None else None
        return {"messages": n, "seconds": secs, "rate": n / secs if secs else 0.0,
                "samples_per_s": values / secs if secs else 0.0,
                "lag_p50_s": pct[0] if pct else None, "lag_p99_s": pct[1] if pct else None,
                "lag_max_s": worst}

    def settle(self) -> float:
        """The date change as the gateway runs it: the stored date of the profiles is moved
        back a day, and the refresh of every vehicle is timed from the start of the
        refresher's transaction (seen in pg_stat_activity) to its commit."""
        self.conn.execute("UPDATE storage_meta SET value = (current_date - 1)::text"
                          " WHERE key = 'profiles_as_of'")
        began = None
        def done() -> bool:
            nonlocal began
            row = self.conn.execute(
                "SELECT (SELECT value FROM storage_meta WHERE key = 'profiles_as_of')"
                " = current_date::text, (SELECT extract(epoch FROM min(xact_start))"
                " FROM pg_stat_activity WHERE application_name = 'gateway-refresh'"
                " AND xact_start < now() - interval '1 second')").fetchone()
            assert row is not None
            if row[1] is not None:
                began = float(row[1]) if began is None else min(began, float(row[1]))
            return bool(row[0])
        wait_until(done, 3600, "the date change's refresh", every=0.5)
        return time.time() - (began or time.time())

    def export(self) -> tuple[int, float]:
        """(profiles, seconds) of the NDJSON export of every 30-day profile over HTTP."""
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=600)
        t0 = time.perf_counter()
        conn.request("GET", "/v1/profiles?window=30&format=ndjson")
        resp = conn.getresponse()
        lines = 0
        while chunk := resp.read(1 << 20):
            lines += chunk.count(b"\n")
        return lines, time.perf_counter() - t0

    def phase(self, name: str, cars: int, share: float, seconds: int) -> None:
        """Publish one phase, wait until its messages are committed, keep its figures."""
        before = self.cpu()
        ph = self.publish(Phase(name, cars, share, seconds))
        self.phases.append(ph)
        t = time.perf_counter()
        wait_until(self.drained, self.a.drain_max_s, "the backlog drained", every=1)
        after = self.cpu()
        ph.cpu = {k: after[k] - before[k] for k in after}
        print(f"{name}: sent {ph.sent:,} (offered {fleet_rate(cars, share):,.0f} msg/s),"
              f" committed {time.perf_counter() - t:.0f} s after the last publish", flush=True)
        self.report.append((ph, self.stats(ph)))

    def derivations_caught_up(self) -> tuple[float, int, dict[str, float]]:
        """Wait (at most ``--drain-max-s``) until no vehicle waits for its derivations:
        (seconds, vehicles derived meanwhile, CPU spent meanwhile)."""
        assert self.api is not None
        self.api.phase = "derivations catching up"
        t, before = time.perf_counter(), self.cpu()
        done0 = self.api.derived_total()
        try:
            wait_until(lambda: not self.scalar("SELECT count(*) FROM dirty_hours"),
                       self.a.drain_max_s, "derivations caught up", every=1)
        except TimeoutError:
            print(f"derivations not caught up after {self.a.drain_max_s} s", flush=True)
        after = self.cpu()
        return (time.perf_counter() - t, int(self.api.derived_total() - done0),
                {k: after[k] - before[k] for k in after})

    def raw_bytes(self) -> int:
        """Bytes of the raw tables (samples and the ingest log, indexes included), whether
        partitions or TimescaleDB chunks."""
        return int(self.scalar(
            "WITH RECURSIVE t(oid) AS (SELECT unnest(ARRAY['samples'::regclass::oid,"
            " 'ingest_log'::regclass::oid]) UNION ALL SELECT inhrelid FROM pg_inherits"
            " JOIN t ON inhparent = t.oid) SELECT sum(pg_total_relation_size(oid)) FROM t"))

    def run(self) -> None:
        """Every step, printing as it goes, then the report."""
        a = self.a
        asyncio.run(_migrate(self.db))
        print(f"registry: {a.cars:,} vehicles, {a.history_days} days of history, made in"
              f" {register(self.conn, a.cars, a.history_days):.0f} s", flush=True)
        self.conn.execute("VACUUM ANALYZE")
        size0, raw0 = self.scalar("SELECT pg_database_size(current_database())"), \
            self.raw_bytes()
        self.gw.start(120)
        self.api = ApiReader(self.gw.port, a.cars, PROBES)
        self.api.start()
        carried = a.carried_cars
        self.phase("carried fleet, night", carried, 0.0, a.night_s)
        self.phase("carried fleet, peak", carried, PEAK_SHARE, a.carried_s)
        catch_up = self.derivations_caught_up()
        self.phase("whole fleet, night", a.cars, 0.0, a.night_s)
        self.phase("whole fleet, peak", a.cars, PEAK_SHARE, a.peak_s)
        self.api.phase = "date change"
        settle = self.settle()
        self.api.phase = "after"
        profiles, export_s = self.export()
        rows = self.scalar("SELECT count(*) FROM samples")
        raw = self.raw_bytes() - raw0
        assert self.gw.proc is not None
        print_report(self.a, self.report, self.api, Outcome(
            catch_up=catch_up, settle_s=settle, profiles=profiles, export_s=export_s,
            raw_per_row=raw / max(rows, 1),
            derived_bytes=self.scalar("SELECT pg_database_size(current_database())") - size0
            - raw,
            pending=self.scalar("SELECT count(DISTINCT vehicle_id) FROM dirty_hours"),
            gateway_rss_mb=peak_rss_mb(self.gw.proc.pid)))


def main() -> None:
    """Command line."""
    p = argparse.ArgumentParser()
    p.add_argument("--cars", type=int, default=1_000_000)
    p.add_argument("--history-days", type=int, default=7)
    p.add_argument("--night-s", type=int, default=60)
    p.add_argument("--peak-s", type=int, default=40)
    p.add_argument("--carried-s", type=int, default=120)
    p.add_argument("--carried-cars", type=int, default=10_000,
                   help="the fleet whose day must hold every goal on this box")
    p.add_argument("--drain-max-s", type=int, default=1200)
    p.add_argument("--server", choices=SERVER_CHOICES, default="timescaledb",
                   help="a PostgreSQL server of its own with TimescaleDB (default) or without,"
                        " or the system server")
    a = p.parse_args()
    soak = Soak(Path(tempfile.mkdtemp(prefix="soak-")), a)
    try:
        soak.run()
    finally:
        soak.close()


if __name__ == "__main__":
    main()
