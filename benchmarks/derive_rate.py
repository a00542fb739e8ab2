"""Derivation passes per second, with one or several derivation connections, side by side.

    .venv/bin/python -m benchmarks.derive_rate [--vehicles 600] [--days 2]
        [--variants 1plain,1,2,3] [--rounds 3] [--server timescaledb|own|system]

A simulated fleet is written in-process and derived once; then, in alternating rounds, each
vehicle's newest hour with data is marked dirty again (the steady state of a running
gateway: one new hour per vehicle, a drive or a parked car's heartbeat) and derived by
``n`` derivers on ``n`` connections, each taking its share of the vehicles, as the gateway
does ("3": three connections; "1plain": one, without pipeline mode, each statement waiting
for its answer). Prints passes/s, this process's CPU and the PostgreSQL server's CPU per
pass, and each variant's rate as a ratio to the first's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import date, timedelta
from statistics import median

from benchmarks.harness import SERVER_CHOICES, server_of_choice, tree_cpu
from features.engine import Deriver
from gateway.app import derive_settings
from gateway.schema import migrate
from gateway.settings import Settings
from localservices import create_database, drop_database
from simulator.fleet import make_fleet
from simulator.stream import Faults
from tests.direct_ingest import derive_all, generate, ingest, register_fleet
from timeseries.db import connect
from timeseries.writer import BatchWriter

SERVER_SETTINGS = {"shared_buffers": "1GB", "autovacuum": "on"}


async def _load(db: str, vehicles: int, days: int) -> None:
    start = date.today() - timedelta(days=days + 1)
    msgs, truth = generate(make_fleet(vehicles, days, start, 7), start, days, 7, 900,
                           Faults(), 10)
    conn = await connect(db)
    layout = await migrate(conn)
    await register_fleet(conn, truth.to_json()["vehicles"])
    await ingest(BatchWriter(conn, layout), msgs)
    await conn.execute("ANALYZE")
    await derive_all(Deriver(conn, derive_settings(Settings())))
    await conn.execute("ANALYZE")
    print(f"{vehicles} vehicles x {days} days: {len(msgs):,} messages written and derived")
    await conn.close()


async def _round(db: str, variant: str, server_pid: int | None
                 ) -> tuple[float, int, float, float]:
    """Mark each vehicle's newest hour dirty, derive as ``variant`` says: (seconds, passes,
    this process's CPU s, the server's CPU s)."""
    n, pipelined = int(variant.removesuffix("plain")), not variant.endswith("plain")
    setup = await connect(db)
    await setup.execute(
        "INSERT INTO dirty_hours (vehicle_id, hour) SELECT vehicle_id,"
        " (extract(epoch FROM max(ts)) * 1000)::bigint / 3600000 FROM samples GROUP BY 1"
        " ON CONFLICT DO NOTHING")
    conns = [await connect(db) for _ in range(n)]
    derivers = [Deriver(c, derive_settings(Settings()), shard=(k, n), pipelined=pipelined)
                for k, c in enumerate(conns)]
    cpu0, pg0, t0 = time.process_time(), tree_cpu(server_pid) if server_pid else 0.0, \
        time.perf_counter()
    done = await asyncio.gather(*(derive_all(d) for d in derivers))
    wall = time.perf_counter() - t0
    cpu, pg = time.process_time() - cpu0, (tree_cpu(server_pid) - pg0) if server_pid else 0.0
    for c in [*conns, setup]:
        await c.close()
    return wall, sum(done), cpu, pg


def _name(variant: str) -> str:
    n = int(variant.removesuffix("plain"))
    return f"{n} connection{'s' if n > 1 else ''}" + \
        (", no pipeline" if variant.endswith("plain") else ", pipelined")


async def run(a: argparse.Namespace) -> None:
    """Load, then time the rounds and print."""
    server = server_of_choice(a.server, SERVER_SETTINGS)
    db = create_database("tg_derive_rate")
    try:
        await _load(db, a.vehicles, a.days)
        pid = server.proc.pid if server and server.proc else None
        variants = a.variants.split(",")
        results: dict[str, list[tuple[float, int, float, float]]] = {v: [] for v in variants}
        for r in range(a.rounds):
            for n in variants:
                results[n].append(await _round(db, n, pid))
                wall, done, cpu, pg = results[n][-1]
                print(f"  round {r + 1}, {_name(n)}: {done} passes in {wall:.2f} s"
                      f" = {done / wall:,.0f}/s; gateway CPU {cpu / done * 1e3:.2f} ms,"
                      f" PostgreSQL CPU {pg / done * 1e3:.2f} ms per pass")
        base = median(d / w for w, d, _, _ in results[variants[0]])
        print(f"\nmedian of {a.rounds} rounds ({os.cpu_count()} cores, server: {a.server}):")
        for n in variants:
            rate = median(d / w for w, d, _, _ in results[n])
            print(f"  {_name(n)}: {rate:,.0f} passes/s ({rate / base:.2f}x the first);"
                  f" gateway CPU"
                  f" {median(c / d for _, d, c, _ in results[n]) * 1e3:.2f} ms, PostgreSQL"
                  f" {median(p / d for _, d, _, p in results[n]) * 1e3:.2f} ms per pass")
    finally:
        drop_database(db)
        if server:
            server.stop()


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vehicles", type=int, default=600)
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--variants", default="1plain,1,2,3",
                   help="comma-separated: connections, 'plain' appended for no pipeline mode")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--server", choices=SERVER_CHOICES, default="timescaledb")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
