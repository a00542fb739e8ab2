"""Decodes per second of every registered decoder, on a simulated fleet's messages.

    .venv/bin/python -m benchmarks.decoders [--vehicles 8] [--days 2]

In-process, no broker or database: the decoder alone (what ``decode_message`` costs per
message, including the shared checks), for each wire format the simulator speaks. CAN is
also measured side by side with the batch decoder on the unpacked document (what a batch
of a shape seen for the first time costs) and with the DBC library decoding the same
batches frame by frame (the reference), on the simulator's batches and on the same frames
batched 10x and 100x larger, beside MessagePack on the same values.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import msgpack

from benchmarks.workloads import W2
from decoders import can_v1, msgpack_v1
from decoders.can_dbc import load_can_models
from decoders.can_vector import decode_batch
from decoders.contract import check_document
from decoders.msgpack_v1 import unpack
from decoders.readings import DecodeContext
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
    _fleet_batches(add, now)
    msgpack_rate = _rate(by_decoder["msgpack_v1"], models, now, "msgpack")
    for factor in (1, 10, 100):
        batches = _rebatched(by_decoder["can_v1"], factor)
        fast = _rate(batches, models, now, "batch")
        unpacked = _rate(batches, models, now, "unpacked")
        slow = _rate(batches, models, now, "reference")
        frames = sum(len(unpack(p)["frames"]) for _, p in batches) / len(batches)
        add(f"CAN batches of ~{frames:,.0f} frames",
            f"decoder {fast:,.0f} values/s ({fast / msgpack_rate:.2f} of MessagePack's"
            f" {msgpack_rate:,.0f} on the simulator's batches); unpacked then decoded in"
            f" batch (a shape's first sight) {unpacked:,.0f} ({fast / unpacked:.2f}x);"
            f" DBC library frame by frame {slow:,.0f} ({fast / slow:.1f}x)")


def _fleet_batches(add: Callable[[str, str], None], now: int) -> None:
    """W2's fleet batches (20 float signals x 10 rows): read from their bytes through the
    shape's template beside unpacked and checked as usual, best of three rounds each."""
    messages = list(W2(500, 3, base_ms=now - 3_600_000).slice(0, 1))
    contexts = [DecodeContext(t, topic_vin(t), now) for t, _ in messages]
    for _ in range(2):  # the second sight records the shape
        msgpack_v1.decode(messages[0][1], contexts[0])
    rates = {}
    for how in ("template", "unpacked"):
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            for (_, payload), ctx in zip(messages, contexts, strict=True):
                if how == "template":
                    msgpack_v1.decode(payload, ctx)
                else:
                    check_document(unpack(payload), ctx)
            best = max(best, len(messages) / (time.perf_counter() - started))
        rates[how] = best
    add("MessagePack fleet batches (200 values)",
        f"read from their bytes {rates['template']:,.0f} msg/s = "
        f"{rates['template'] * 200:,.0f} values/s; unpacked and checked as usual"
        f" {rates['unpacked']:,.0f} msg/s ({rates['template'] / rates['unpacked']:.2f}x)")


def _rebatched(messages: list[tuple[str, bytes]], factor: int) -> list[tuple[str, bytes]]:
    """The same frames in batches ``factor`` times larger (consecutive batches of a car)."""
    if factor == 1:
        return messages
    by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for topic, payload in messages:
        by_topic[topic].append(unpack(payload))
    out = []
    for topic, docs in by_topic.items():
        for i in range(0, len(docs), factor):
            group = docs[i:i + factor]
            out.append((topic, msgpack.packb({**group[0], "frames": [
                f for d in group for f in d["frames"]]})))
    return out


def _rate(messages: list[tuple[str, bytes]], models: dict[str, str], now: int,
          how: str) -> float:
    """Values per second decoding ``messages`` one way (best of three rounds)."""
    can_models = load_can_models()
    contexts = [DecodeContext(t, topic_vin(t), now, models[topic_vin(t)], can_models)
                for t, _ in messages]
    best = 0.0
    for _ in range(3):
        values = 0
        started = time.perf_counter()
        for (topic, payload), ctx in zip(messages, contexts, strict=True):
            if how == "reference":
                doc = unpack(payload)
                values += can_v1.decode_reference(
                    doc, doc["frames"], can_models.for_model(ctx.model), ctx).value_count
            elif how == "unpacked":
                doc = unpack(payload)
                model = can_models.for_model(ctx.model)
                found = decode_batch(doc, doc["frames"], model, ctx)
                values += (found or can_v1.decode_reference(
                    doc, doc["frames"], model, ctx)).value_count
            else:
                values += decode_message(topic, payload, now, ctx.model).value_count
        best = max(best, values / (time.perf_counter() - started))
    return best


def main() -> None:
    """Parse arguments and print the figures."""
    p = argparse.ArgumentParser()
    p.add_argument("--vehicles", type=int, default=8, help="per format")
    p.add_argument("--days", type=int, default=2)
    a = p.parse_args()
    bench(lambda k, v: print(f"{k}: {v}"), a.vehicles, a.days)


if __name__ == "__main__":
    main()
