"""W1 and W2 backlog drains, side by side with the naive baseline, raw COPY and the broker.

    .venv/bin/python -m benchmarks.run [--w2-vehicles 10000] [--w1-messages 20000]

Each drain pre-loads the broker with the whole workload while the consumer is stopped
(its persistent session exists), then starts it and times until everything is committed,
so the figure is the consumer's, not the publisher's. Prints one table; ratios are the
numbers to compare (absolute times drift on a shared machine).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import psycopg

from decoders.catalog import load_catalog
from simulator.publish import Publisher
from simulator.stream import Outgoing
from tests.services import Broker, Gateway, create_database, drop_database, query, wait_until

NUMERIC = [s for s in load_catalog().signals.values() if s.type == "float"]


def vin(i: int) -> str:
    return f"WVWZZZ1JZ{i:08d}"


def w1(n: int, vehicles: int = 100, garbage: int = 10) -> list[Outgoing]:
    """Per-sample JSON: one row of 15 numeric signals per message."""
    rng = random.Random(1)
    t0 = int(time.time() * 1000) - 3_600_000
    out = []
    for i in range(n):
        v = vin(i % vehicles)
        sig = {s.name: [round(rng.uniform(s.min or 0, min(s.max or 1, 100)), 2)]
               for s in NUMERIC[:15]}
        doc = {"v": 1, "vin": v, "seq": i, "t0": t0 + i * 10, "dt": [0], "signals": sig}
        out.append(Outgoing(0, i, f"vehicles/{v}/telemetry/json", json.dumps(doc).encode()))
        if garbage and i % (n // garbage) == n // garbage // 2:
            out.append(Outgoing(0, i, f"vehicles/{v}/telemetry/json", b"{garbage %d" % i))
    return out


def w2(vehicles: int) -> list[Outgoing]:
    """Fleet batches: one vehicle x 10 s x 20 signals at 1 Hz (200 samples) per message."""
    rng = random.Random(2)
    t0 = int(time.time() * 1000) - 3_600_000
    sigs = NUMERIC[:20]
    out = []
    for i in range(vehicles):
        v = vin(i)
        doc = {"v": 1, "vin": v, "seq": 1, "t0": t0, "dt": list(range(0, 10_000, 1000)),
               "signals": {s.name: [round(rng.uniform(s.min or 0, min(s.max or 1, 100)), 2)
                                    for _ in range(10)] for s in sigs}}
        out.append(Outgoing(0, i, f"vehicles/{v}/telemetry", msgpack.packb(doc)))
    return out


def _proc_stats(pid: int) -> tuple[float, float]:
    """(cpu seconds, rss MB) of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / 100
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text()
               .splitlines() if line.startswith("VmRSS:")) / 1024
    return cpu, rss


def drain_gateway(work: Path, msgs: list[Outgoing], expected: int, **settings: str
                  ) -> tuple[float, float, float]:
    """Seconds, gateway CPU seconds and peak RSS (MB) to commit ``expected`` messages."""
    broker = Broker(work / f"broker-{time.monotonic_ns()}")
    broker.start()
    db = create_database("tg_bench")
    try:
        gw = Gateway(broker.url, db, work, client_id="bench", **settings)
        gw.start()
        gw.stop()
        pub = Publisher(broker.url)
        pub.publish(msgs)
        pub.close()
        t = time.perf_counter()
        gw.start()
        assert gw.proc is not None
        cpu0, peak = _proc_stats(gw.proc.pid)

        def done() -> bool:
            nonlocal peak
            peak = max(peak, _proc_stats(gw.proc.pid)[1])  # type: ignore[union-attr]
            dead = query(db, "SELECT count(*) FROM dead_letters")[0][0]
            return bool(query(db, "SELECT count(*) FROM ingest_log")[0][0] + dead >= expected)

        wait_until(done, 1800, "drain", every=0.1)
        secs = time.perf_counter() - t
        cpu = _proc_stats(gw.proc.pid)[0] - cpu0
        gw.stop()
        return secs, cpu, peak
    finally:
        broker.stop()
        drop_database(db)


def drain_naive(work: Path, msgs: list[Outgoing]) -> float:
    """Seconds for the naive baseline to insert the same backlog."""
    broker = Broker(work / "broker-naive")
    broker.start()
    db = create_database("tg_bench")
    try:
        args = [sys.executable, "-m", "benchmarks.naive_baseline", str(broker.port), db, "0"]
        subprocess.run(args, check=True, timeout=60)  # creates the persistent session
        pub = Publisher(broker.url)
        pub.publish(msgs)
        pub.close()
        t = time.perf_counter()
        args[-1] = str(len(msgs))
        subprocess.run(args, check=True, timeout=1800)
        return time.perf_counter() - t
    finally:
        broker.stop()
        drop_database(db)


def copy_limit(rows: int, width: int) -> float:
    """Seconds for one binary COPY of ``rows`` wide rows into a samples-like table."""
    db = create_database("tg_bench")
    try:
        with psycopg.connect(db, autocommit=True) as conn:
            cols = ", ".join(f"c{i} double precision" for i in range(width))
            conn.execute(f"CREATE TABLE s (vehicle_id int, ts bigint, flags smallint, {cols},"
                         " PRIMARY KEY (vehicle_id, ts))")
            buf = io.BytesIO()
            with conn.cursor() as cur:
                t = time.perf_counter()
                with cur.copy("COPY s FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int4", "int8", "int2"] + ["float8"] * width)
                    for r in range(rows):
                        copy.write_row([r // 10, r % 10, 0] + [1.5] * width)
                secs = time.perf_counter() - t
            del buf
        return secs
    finally:
        drop_database(db)


def broker_limit(work: Path, msgs: list[Outgoing]) -> float:
    """Seconds for mosquitto_sub (C) to receive the same backlog at QoS 1."""
    broker = Broker(work / "broker-sub")
    broker.start()
    try:
        base = ["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-c", "-i", "bench-sub",
                "-t", "vehicles/#"]
        subprocess.run([*base, "-W", "1"], capture_output=True)  # session, then timeout
        pub = Publisher(broker.url)
        pub.publish(msgs)
        pub.close()
        t = time.perf_counter()
        subprocess.run([*base, "-C", str(len(msgs))], stdout=subprocess.DEVNULL, check=True,
                       timeout=600)
        return time.perf_counter() - t
    finally:
        broker.stop()


def main() -> None:
    """Run everything and print the table."""
    p = argparse.ArgumentParser()
    p.add_argument("--w1-messages", type=int, default=20_000)
    p.add_argument("--w2-vehicles", type=int, default=10_000)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    rows: list[tuple[str, str]] = []
    add: Callable[[str, str], None] = lambda k, v: rows.append((k, v))  # noqa: E731

    m1 = w1(args.w1_messages)
    secs, cpu, rss = drain_gateway(work, m1, len(m1))
    naive = drain_naive(work, m1)
    add("W1 gateway", f"{len(m1) / secs:,.0f} msg/s, {len(m1) * 15 / secs:,.0f} samples/s, "
                      f"CPU {cpu:.1f}s, peak RSS {rss:.0f} MB")
    add("W1 naive baseline", f"{len(m1) / naive:,.0f} msg/s")
    add("W1 ratio gateway/naive", f"{naive / secs:.2f}x")
    m2 = w2(args.w2_vehicles)
    samples = len(m2) * 200
    secs, cpu, rss = drain_gateway(work, m2, len(m2))
    add("W2 gateway (1 replica)", f"{len(m2) / secs:,.0f} msg/s, {samples / secs:,.0f} "
                                  f"samples/s, CPU {cpu:.1f}s, peak RSS {rss:.0f} MB")
    copy_s = copy_limit(len(m2) * 10, 20)
    add("W2 raw binary COPY limit", f"{len(m2) * 10 / copy_s:,.0f} rows/s = "
                                    f"{samples / copy_s:,.0f} samples/s")
    add("W2 ratio gateway/COPY", f"{copy_s / secs:.2f}")
    sub_s = broker_limit(work, m2)
    add("W2 broker -> mosquitto_sub", f"{len(m2) / sub_s:,.0f} msg/s")
    width = max(len(k) for k, _ in rows)
    print(f"benchmarks on {time.strftime('%Y-%m-%d')} ({len(m1)} W1 messages, {len(m2)} W2)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


if __name__ == "__main__":
    main()
