"""The per-message budget: W1 and W2 drained by one gateway process with derivations on,
beside the raw COPY of the same W2 rows, in one run.

    .venv/bin/python -m benchmarks.budget [--w1-messages 20000] [--w2-vehicles 10000]
        [--rounds 2]

One replica, derivations on, ack after commit and dedup as shipped: the configuration the
per-message goals are stated for (W1 >= 40,000 msg/s, W2 >= 4,000,000 samples/s, and 0.5 of
the raw COPY limit measured in the same run). Rounds alternate W1, W2 and the COPY so that
drift of the machine touches all three alike; each round's figures are printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import harness
from benchmarks.limits import copy_limit
from benchmarks.workloads import W1, W2


def _line(r: harness.Run, samples: int) -> str:
    return (f"{r.rate:,.0f} msg/s = {r.rate * samples:,.0f} samples/s; CPU per message:"
            f" gateway {r.gateway_cpu_s / r.messages * 1e6:.1f} us, PostgreSQL"
            f" {r.postgres_cpu_s / r.messages * 1e6:.1f} us; peak RSS {r.peak_rss_mb:.0f} MB;"
            f" rows {r.rows:,}, dead letters {r.dead_letters}")


def main() -> None:
    """Run the rounds and print each figure beside the round's COPY limit."""
    p = argparse.ArgumentParser()
    p.add_argument("--w1-messages", type=int, default=20_000)
    p.add_argument("--w2-vehicles", type=int, default=10_000)
    p.add_argument("--w2-windows", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--publishers", type=int, default=2)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="budget-"))
    base = int(time.time() * 1000) - 3_600_000
    w1 = W1(a.w1_messages, base_ms=base)
    w2 = W2(a.w2_vehicles, a.w2_windows, base_ms=base)
    w1_args = ("--messages", str(w1.messages), "--base-ms", str(w1.base_ms))
    w2_args = ("--vehicles", str(w2.vehicles), "--windows", str(w2.windows),
               "--base-ms", str(w2.base_ms))
    for k in range(1, a.rounds + 1):
        one = harness.drain(work, "w1", w1.total, 1, a.publishers, w1_args)
        ok = one.rows == w1.messages and one.dead_letters == w1.garbage
        print(f"round {k} W1 drain, 1 process, derive on: {_line(one, 15)};"
              f" {'no loss' if ok else 'LOSS'}; goal 40,000 msg/s: {one.rate / 40_000:.2f}",
              flush=True)
        two = harness.drain(work, "w2", w2.total, 1, a.publishers, w2_args)
        ok = two.rows == w2.total * 10 and two.dead_letters == 0
        samples = two.rate * w2.samples_per_message
        print(f"round {k} W2 drain, 1 process, derive on: {_line(two, w2.samples_per_message)};"
              f" {'no loss' if ok else 'LOSS'}; goal 4 M samples/s: {samples / 4e6:.2f}",
              flush=True)
        rows, secs = copy_limit(w2)
        limit = rows * 20 / secs
        print(f"round {k} W2 raw binary COPY of the same rows: {rows / secs:,.0f} rows/s ="
              f" {limit:,.0f} samples/s; W2 / COPY {samples / limit:.2f} (goal 0.5)",
              flush=True)


if __name__ == "__main__":
    main()
