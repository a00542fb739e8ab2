"""Issue 7's benchmarks in one go: W1 and W2 (backlog drain and live), the latency at half
the maximum W2 rate, the limits (raw COPY, mosquitto_sub), the naive baseline, the
Node-RED peer (W1), the API.

    .venv/bin/python -m benchmarks.run [--replicas 2] [--publishers 2] [--w2-vehicles 10000]
        [--w2-windows 3] [--w1-messages 20000] [--skip-api]

Prints one table. Ratios are the numbers to compare: absolute rates drift with whatever
else this shared machine is doing. Ingest replicas run with ``--no-derive`` (derivations are
a separate worker in the documented scale-out; their cost is measured by benchmarks.derive),
except the line marked "derive on".
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import api, decoders, harness, nodered_peer
from benchmarks.limits import broker_limit, copy_limit, naive_drain
from benchmarks.workloads import W1, W2
from localservices import PG_ADMIN, use_server
from localservices.postgres import PostgresServer, timescaledb_bin

INGEST = {"derive": "false"}


class Table:
    """Rows of (what, figures), printed aligned."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def add(self, what: str, figures: str) -> None:
        """One line."""
        self.rows.append((what, figures))
        print(f"  {what}: {figures}", flush=True)  # progress while it runs

    def print(self, title: str) -> None:
        """The whole table."""
        width = max(len(k) for k, _ in self.rows)
        print(f"\n{title}")
        for k, v in self.rows:
            print(f"  {k:<{width}}  {v}")


def _run_line(r: harness.Run, samples_per_message: int) -> str:
    return (f"{r.rate:,.0f} msg/s, {r.rate * samples_per_message:,.0f} samples/s, "
            f"gateway CPU {r.gateway_cpu_s / r.messages * 1e6:.0f} us/msg, "
            f"PostgreSQL CPU {r.postgres_cpu_s / r.messages * 1e6:.0f} us/msg, "
            f"peak RSS {r.peak_rss_mb:.0f} MB")


def _check(r: harness.Run, rows: int, dead: int) -> str:
    ok = r.rows == rows and r.dead_letters == dead
    return f"{r.rows:,} rows, {r.dead_letters} dead letters: {'no loss' if ok else 'LOSS'}"


def bench_w1(t: Table, work: Path, a: argparse.Namespace) -> None:
    """W1: drains (1 and N replicas), the naive baseline and the Node-RED peer, alternating
    for ``--rounds`` rounds (commit latency drifts: ratios are taken per round), live."""
    w = W1(a.w1_messages, base_ms=int(time.time() * 1000) - 3_600_000)
    args = ("--messages", str(w.messages), "--base-ms", str(w.base_ms))
    one = harness.drain(work, "w1", w.total, 1, a.publishers, args, INGEST)
    t.add("W1 drain, 1 replica", _run_line(one, 15) + "; " + _check(one, w.messages, w.garbage))
    ratios, rates, naives, peers = [], [], [], []
    for _ in range(a.rounds):
        many = harness.drain(work, "w1", w.total, a.replicas, a.publishers, args, INGEST)
        t.add(f"W1 drain, {a.replicas} replicas", _run_line(many, 15) + "; "
              + _check(many, w.messages, w.garbage))
        if not a.skip_nodered:
            peer = nodered_peer.nodered_drain(work, w, *args)
            t.add("W1 Node-RED 4 peer (mqtt in -> function pg pool INSERT)",
                  nodered_peer.describe(peer))
            peers.append(many.rate / peer.rate)
        if a.skip_naive:
            continue
        naive = w.messages / naive_drain(work, w, *args)
        t.add("W1 naive baseline (paho -> json.loads -> INSERT)", f"{naive:,.0f} msg/s")
        ratios.append(many.rate / naive)
        rates.append(many.rate)
        naives.append(naive)
    if ratios:
        t.add("W1 ratio ours / naive, per round (bar >= 10x)",
              ", ".join(f"{r:.1f}x" for r in ratios) + f"; median {statistics.median(ratios):.1f}x"
              f" ({statistics.median(rates):,.0f} vs {statistics.median(naives):,.0f} msg/s)")
    if peers:
        t.add("W1 ratio ours / Node-RED, per round",
              ", ".join(f"{r:.2f}x" for r in peers) + f"; median {statistics.median(peers):.2f}x")
    live, pub = harness.live(work, "w1", w.total, a.replicas, a.publishers, args, INGEST)
    t.add(f"W1 live, {a.replicas} replicas, {a.publishers} publishers",
          _run_line(live, 15) + f" (publishers sent {pub:,.0f} msg/s)")
    sub = broker_limit(work, "w1", w.total, *args)
    t.add("W1 broker -> mosquitto_sub (C)", f"{w.total / sub:,.0f} msg/s")


def bench_w2(t: Table, work: Path, a: argparse.Namespace) -> None:
    """W2: drains, live, derive-on drain, COPY limit, broker limit, latency."""
    w = W2(a.w2_vehicles, a.w2_windows, base_ms=int(time.time() * 1000) - 3_600_000)
    args = ("--vehicles", str(w.vehicles), "--windows", str(w.windows),
            "--base-ms", str(w.base_ms))
    spm = w.samples_per_message
    one = harness.drain(work, "w2", w.total, 1, a.publishers, args, INGEST)
    t.add("W2 drain, 1 replica", _run_line(one, spm) + "; " + _check(one, w.total * 10, 0))
    many = harness.drain(work, "w2", w.total, a.replicas, a.publishers, args, INGEST)
    t.add(f"W2 drain, {a.replicas} replicas", _run_line(many, spm) + "; "
          + _check(many, w.total * 10, 0))
    derive = harness.drain(work, "w2", w.total, a.replicas, a.publishers, args)
    t.add(f"W2 drain, {a.replicas} replicas, derive on", _run_line(derive, spm))
    live, pub = harness.live(work, "w2", w.total, a.replicas, a.publishers, args, INGEST)
    t.add(f"W2 live, {a.replicas} replicas, {a.publishers} publishers",
          _run_line(live, spm) + f" (publishers sent {pub:,.0f} msg/s)")
    rows, copy_s = copy_limit(w)
    t.add("W2 raw binary COPY of the same rows (limit)",
          f"{rows / copy_s:,.0f} rows/s = {rows * 20 / copy_s:,.0f} samples/s")
    best = max(one, many, live, key=lambda r: r.rate)
    t.add("W2 ratio ours / COPY limit", f"{best.rate * spm / (rows * 20 / copy_s):.2f}")
    sub = broker_limit(work, "w2", w.total, *args)
    t.add("W2 broker -> mosquitto_sub (C)", f"{w.total / sub:,.0f} msg/s")
    half = best.rate / 2
    live_args = ("--rate", str(half / a.publishers), "--seconds", str(a.latency_seconds),
                 "--vehicles", str(w.vehicles))
    lat, _ = harness.live(work, "w2-live", int(half / a.publishers * a.latency_seconds)
                          * a.publishers, a.replicas, a.publishers, live_args, INGEST, True)
    t.add(f"W2 latency at {half:,.0f} msg/s (half max)",
          f"p50 {lat.latency_p50_ms:.0f} ms, p99 {lat.latency_p99_ms:.0f} ms (vehicle timestamp"
          " -> commit)")


def _on_timescaledb(t: Table, work: Path, a: argparse.Namespace) -> None:
    """The drains, the COPY limit and the API once more, on our own TimescaleDB server
    (settings of a fresh initdb, fsync on, like the local server); rows marked
    [timescaledb]."""
    bin_dir = timescaledb_bin()
    if bin_dir is None:
        t.add("[timescaledb]", "skipped: not built (scripts/setup.sh, vendored source)")
        return
    server = PostgresServer(bin_dir, fsync=True)
    server.start()
    use_server(server.admin_url)
    ts = Table()
    try:
        if a.only in (None, "w1"):
            bench_w1(ts, work, argparse.Namespace(**{**vars(a), "rounds": 1, "skip_naive": True,
                                                     "skip_nodered": True}))
        if a.only in (None, "w2"):
            bench_w2(ts, work, a)
        if a.only in (None, "api") and not a.skip_api:
            api.bench(ts.add)
    finally:
        use_server(PG_ADMIN)
        server.stop()
    for what, figure in ts.rows:
        t.add(f"[timescaledb] {what}", figure)


def main() -> None:
    """Run everything and print the table."""
    p = argparse.ArgumentParser()
    p.add_argument("--w1-messages", type=int, default=20_000)
    p.add_argument("--w2-vehicles", type=int, default=10_000)
    p.add_argument("--w2-windows", type=int, default=3)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--publishers", type=int, default=2)
    p.add_argument("--latency-seconds", type=float, default=20)
    p.add_argument("--rounds", type=int, default=3, help="W1 ours/naive rounds")
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--skip-nodered", action="store_true",
                   help="leave out the Node-RED peer (installed with npm on first use)")
    p.add_argument("--skip-api", action="store_true")
    p.add_argument("--only", choices=["w1", "w2", "api", "decoders"], default=None)
    p.add_argument("--timescaledb", action="store_true",
                   help="then W1, W2 and the API again on TimescaleDB (built by"
                   " scripts/setup.sh), with its own COPY limit")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    t = Table()
    if a.only in (None, "w1"):
        bench_w1(t, work, a)
    if a.only in (None, "w2"):
        bench_w2(t, work, a)
    if a.only in (None, "api") and not a.skip_api:
        api.bench(t.add)
    if a.only in (None, "decoders"):
        decoders.bench(t.add)
    if a.timescaledb:
        _on_timescaledb(t, work, a)
    t.print(f"benchmarks {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
            f"({os.cpu_count()} cores, Python {platform.python_version()})")


if __name__ == "__main__":
    main()
