"""What the machine allows, measured on the same workload: raw binary COPY of the same rows
into the same schema, the broker's delivery rate to a C client, and the naive baseline."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.harness import Rig
from benchmarks.workloads import W1, W2
from decoders.catalog import load_catalog
from decoders.registry import decode_message, topic_vin
from gateway.schema import migrate
from localservices import ROOT, create_database, drop_database
from timeseries.copybuf import samples_copy_data
from timeseries.db import connect
from timeseries.partitions import PartitionKeeper, weeks_for
from timeseries.rows import assemble


def copy_limit(w: W2) -> tuple[int, float]:
    """(rows, seconds) of one binary COPY of W2's rows into ``samples`` from a buffer built
    beforehand (decoding and encoding not timed), commit included."""
    now = int(time.time() * 1000)
    parts = [(int(topic_vin(topic)[-8:]) + 1, decode_message(topic, payload, now))
             for topic, payload in w.slice(0, 1)]
    columns = load_catalog().columns
    rows = assemble(parts, {c: i for i, c in enumerate(columns)}, len(columns))
    data = samples_copy_data(rows)
    names = ", ".join(["vehicle_id", "ts", "flags", *columns])

    async def run(db: str) -> float:
        async with await connect(db) as conn:
            if not (await migrate(conn)).timescale:
                await PartitionKeeper().ensure(conn, weeks_for(rows.ts_ms.tolist()[::1000]))
            await conn.commit()
            started = time.perf_counter()
            async with conn.cursor() as cur, \
                    cur.copy(f"COPY samples ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                await copy.write(data)
            await conn.commit()
            return time.perf_counter() - started

    db = create_database("tg_bench")
    try:
        return len(rows), asyncio.run(run(db))
    finally:
        drop_database(db)


def broker_limit(work: Path, workload: str, total: int, *args: str) -> float:
    """Seconds for ``mosquitto_sub`` (C) to receive a pre-loaded backlog at QoS 1."""
    rig = Rig(work, 0)
    try:
        base = ["mosquitto_sub", "-p", str(rig.broker.port), "-q", "1", "-c", "-i",
                "bench-sub", "-t", "vehicles/#"]
        subprocess.run([*base, "-W", "1"], capture_output=True)  # the session, then timeout
        rig.publish(workload, 1, args)
        started = time.perf_counter()
        subprocess.run([*base, "-C", str(total)], stdout=subprocess.DEVNULL, check=True,
                       timeout=1800)
        return time.perf_counter() - started
    finally:
        rig.close()


def naive_table(conn: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, float]:
    """(rows, seconds from first to last insert) of the ``naive`` table, which the naive
    baseline and the Node-RED peer both fill."""
    row = conn.execute("SELECT count(*), coalesce(extract(epoch FROM max(at) - min(at)), 0)"
                       " FROM naive").fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def naive_drain(work: Path, w: W1, *args: str) -> float:
    """Seconds the naive baseline takes for W1's backlog, timed from its rows like ours."""
    rig = Rig(work, 0)
    try:
        cmd = [sys.executable, "-m", "benchmarks.naive_baseline", str(rig.broker.port), rig.db]
        subprocess.run([*cmd, "0"], check=True, timeout=60, cwd=ROOT)  # creates its session
        rig.publish("w1", 1, args)
        subprocess.run([*cmd, str(w.total)], check=True, timeout=1800, cwd=ROOT)
        with psycopg.connect(rig.db, autocommit=True) as conn:
            rows, seconds = naive_table(conn)
        assert rows == w.messages, f"naive stored {rows}"
        return seconds
    finally:
        rig.close()
