"""Runs gateway replicas against a workload and measures them from the database's clock.

A drain's duration is taken from the rows themselves: the first message's ``received_at``
to the last ``committed_at`` in ``ingest_log``. Process start-up (imports, migrations,
connecting) is therefore not counted, and neither is the publisher: the figure is the
gateway's. CPU is read from /proc for the replicas (minus their measured start-up CPU) and
for PostgreSQL; peak RSS is each replica's high-water mark (VmHWM).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from localservices import (
    ROOT,
    Broker,
    Gateway,
    create_database,
    drop_database,
    use_server,
    wait_until,
)
from localservices.postgres import PostgresServer, timescaledb_bin

SYSTEM_BIN = Path("/usr/lib/postgresql/15/bin")
SERVER_CHOICES = ("timescaledb", "own", "system")


def server_of_choice(choice: str, settings: dict[str, str]) -> PostgresServer | None:
    """A PostgreSQL server of the benchmark's own, started with fsync on and ``settings``,
    where new databases now go: "timescaledb" (with TimescaleDB preloaded) or "own"
    (without); None for "system" (the machine's server)."""
    if choice == "system":
        return None
    bin_dir = timescaledb_bin() if choice == "timescaledb" else SYSTEM_BIN
    if bin_dir is None:
        raise SystemExit("TimescaleDB is not built: bash scripts/setup.sh")
    server = PostgresServer(bin_dir, "timescaledb" if choice == "timescaledb" else "",
                            fsync=True, settings=settings)
    server.start()
    use_server(server.admin_url)
    return server


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and everything below it, exited children included (what
    it reaped): e.g. a PostgreSQL server with its backends, which come and go."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))

    def total(p: int) -> float:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        own = sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")
        return own + sum(total(c) for c in children.get(p, []))
    return total(pid)


def peak_rss_mb(pid: int) -> float:
    """The process's resident-set high-water mark."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_of(command: str) -> float:
    """CPU seconds of every process named ``command`` (e.g. all PostgreSQL backends)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == command:
                total += proc_cpu(int(pid))
        except OSError:
            continue  # exited meanwhile
    return total


@dataclass(slots=True)
class Run:
    """What one measured run gave."""

    messages: int
    seconds: float
    gateway_cpu_s: float
    postgres_cpu_s: float
    peak_rss_mb: float
    rows: int
    dead_letters: int
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None

    @property
    def rate(self) -> float:
        """Committed messages per second."""
        return self.messages / self.seconds


class Rig:
    """A broker, a database and ``replicas`` gateways sharing the subscription."""

    def __init__(self, work: Path, replicas: int, **settings: str) -> None:
        self.broker = Broker(work / f"broker-{time.monotonic_ns()}")
        self.broker.start()
        self.db = create_database("tg_bench")
        group = {"shared_group": "bench"} if replicas > 1 else {}
        self.gateways = [Gateway(self.broker.url, self.db, work, client_id=f"bench-{k}",
                                 **group, **settings) for k in range(replicas)]
        self.startup_cpu = 0.0
        for gw in self.gateways:  # creates the persistent sessions; start-up CPU measured
            gw.start()
            assert gw.proc is not None
            self.startup_cpu += proc_cpu(gw.proc.pid)

    def stop(self) -> None:
        """Stop the gateways (their sessions stay at the broker)."""
        for gw in self.gateways:
            gw.stop()

    def start(self) -> None:
        """Start the gateways again, side by side."""
        for gw in self.gateways:
            gw.launch()
        for gw in self.gateways:
            gw.wait_subscribed()

    def close(self) -> None:
        """Stop everything and drop the database."""
        self.stop()
        self.broker.stop()
        drop_database(self.db)

    def publish(self, workload: str, publishers: int, args: Sequence[str]
                ) -> list[dict[str, float]]:
        """Run ``publishers`` load generators in parallel, each with its slice."""
        procs = [subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen", self.broker.url, workload, str(k),
             str(publishers), *args], cwd=ROOT, stdout=subprocess.PIPE)
            for k in range(publishers)]
        out = []
        for p in procs:
            stdout, _ = p.communicate(timeout=1800)
            if p.returncode:
                raise RuntimeError(f"load generator failed ({p.returncode})")
            out.append(json.loads(stdout))
        return out

    def measure(self, expected: int, pg_cpu_before: float, latency: bool = False) -> Run:
        """Wait until ``expected`` messages are committed or dead-lettered, then read it off."""
        with psycopg.connect(self.db, autocommit=True) as conn:
            def done() -> bool:
                row = conn.execute("SELECT (SELECT count(*) FROM ingest_log)"
                                   " + (SELECT count(*) FROM dead_letters)").fetchone()
                return row is not None and row[0] >= expected
            wait_until(done, 1800, f"{expected} messages committed", every=0.2)
            row = conn.execute(
                "SELECT count(*), extract(epoch FROM max(committed_at) - min(received_at)),"
                " (SELECT count(*) FROM samples), (SELECT count(*) FROM dead_letters),"
                " percentile_cont(0.5) WITHIN GROUP (ORDER BY lat),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY lat)"
                " FROM (SELECT *, extract(epoch FROM committed_at - t0) * 1000"
                " - 9000 AS lat FROM ingest_log) l").fetchone()
        assert row is not None
        pids = [gw.proc.pid for gw in self.gateways if gw.proc is not None]
        return Run(
            messages=expected, seconds=float(row[1]),
            gateway_cpu_s=sum(proc_cpu(p) for p in pids) - self.startup_cpu,
            postgres_cpu_s=cpu_of("postgres") - pg_cpu_before,
            peak_rss_mb=max(peak_rss_mb(p) for p in pids), rows=int(row[2]),
            dead_letters=int(row[3]),
            latency_p50_ms=float(row[4]) if latency else None,
            latency_p99_ms=float(row[5]) if latency else None)


def drain(work: Path, workload: str, expected: int, replicas: int, publishers: int,
          args: Sequence[str], settings: Mapping[str, str] | None = None) -> Run:
    """The backlog drain: sessions pre-loaded while the replicas are stopped."""
    rig = Rig(work, replicas, **(settings or {}))
    try:
        rig.stop()
        rig.publish(workload, publishers, args)
        pg0 = cpu_of("postgres")
        rig.start()
        return rig.measure(expected, pg0)
    finally:
        rig.close()


def live(work: Path, workload: str, expected: int, replicas: int, publishers: int,
         args: Sequence[str], settings: Mapping[str, str] | None = None,
         latency: bool = False) -> tuple[Run, float]:
    """Replicas running, publishers at full speed (or paced); also the publishers' rate."""
    rig = Rig(work, replicas, **(settings or {}))
    try:
        pg0 = cpu_of("postgres")
        stats = rig.publish(workload, publishers, args)
        run = rig.measure(expected, pg0, latency)
        return run, sum(s["sent"] for s in stats) / max(s["seconds"] for s in stats)
    finally:
        rig.close()
