"""Backlog drain: how fast the gateway commits the simulator's batches.

The gateway's persistent session is created, the gateway stopped, the broker pre-loaded
with a simulated fleet (10 s batches at 1 Hz), then the gateway started and timed until
every message is committed. The figure is the gateway's, not the publisher's.

    .venv/bin/python -m benchmarks.drain --vehicles 30 --days 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from localservices import Broker, Gateway, create_database, drop_database, query, wait_until
from simulator.fleet import make_fleet
from simulator.publish import Publisher
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth


def main() -> None:
    """Run and print."""
    p = argparse.ArgumentParser()
    p.add_argument("--vehicles", type=int, default=30)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--writers", default="2")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="drain-"))
    broker = Broker(work / "broker")
    broker.start()
    db = create_database("tg_bench")
    try:
        gw = Gateway(broker.url, db, work, client_id="bench-drain", writers=args.writers)
        gw.start()
        gw.stop()
        start = date.today() - timedelta(days=args.days + 1)
        truth = FleetTruth()
        msgs = list(fleet_stream(make_fleet(args.vehicles, args.days, start, 11), start,
                                 args.days, 11, 900, Faults(), truth))
        pub = Publisher(broker.url)
        pub.publish(msgs)
        pub.close()
        values = sum(v.values for v in truth.vehicles.values())
        rows = sum(v.rows for v in truth.vehicles.values())
        t = time.perf_counter()
        gw.start()
        wait_until(lambda: query(db, "SELECT count(*) FROM ingest_log")[0][0] >= len(msgs),
                   1800, "drain", every=0.2)
        secs = time.perf_counter() - t
        gw.stop()
        print(f"drained {len(msgs)} messages ({rows} rows, {values} values) in {secs:.1f}s: "
              f"{len(msgs) / secs:,.0f} msg/s, {values / secs:,.0f} samples/s, "
              f"{rows / secs:,.0f} rows/s (start-up included)")
    finally:
        broker.stop()
        drop_database(db)


if __name__ == "__main__":
    main()
