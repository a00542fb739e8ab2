"""Decodes per second of every registered decoder, on a simulated fleet's messages.

    .venv/bin/python -m benchmarks.decoders [--vehicles 8] [--days 2]

In-process, no broker or database: the decoder alone (what ``decode_message`` costs per
message, including the shared checks), for each wire format the simulator speaks.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta

from decoders.registry import decode_message, route, topic_vin
from simulator.fleet import make_fleet
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth


def bench(add: Callable[[str, str], None], vehicles: int = 8, days: int = 2) -> None:
    """Decode every message of a mixed fleet, grouped by decoder; report rates."""
    start = date.today() - timedelta(days=days + 1)
    fleet = make_fleet(vehicles * 4, days, start, 4, json_share=0.25, can_share=0.25,
                       pb_share=0.25)
    models = {v.vin: v.model for v in fleet}
    by_decoder: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for m in fleet_stream(fleet, start, days, 4, 900, Faults(), FleetTruth()):
        by_decoder[route(m.topic)[1].name].append((m.topic, m.payload))
    now = int(time.time() * 1000)
    for name, messages in sorted(by_decoder.items()):
        values = 0
        started = time.perf_counter()
        for topic, payload in messages:
            values += decode_message(topic, payload, now, models[topic_vin(topic)]).value_count
        secs = time.perf_counter() - started
        each = values / len(messages)
        add(f"decoder {name}", f"{len(messages) / secs:,.0f} decodes/s, {values / secs:,.0f}"
                               f" values/s ({len(messages):,} messages, {each:.0f} values each)")


def main() -> None:
    """Parse arguments and print the figures."""
    p = argparse.ArgumentParser()
    p.add_argument("--vehicles", type=int, default=8, help="per format")
    p.add_argument("--days", type=int, default=2)
    a = p.parse_args()
    bench(lambda k, v: print(f"{k}: {v}"), a.vehicles, a.days)


if __name__ == "__main__":
    main()
