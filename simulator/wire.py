"""A chunk of simulated rows as the payloads a vehicle of each wire format publishes.

- ``msgpack`` / ``json``: one map-contract message (v1) on ``telemetry`` / ``telemetry/json``;
- ``can``: one batch of raw CAN frames encoded with the model's DBC (``decoders/data/can``),
  plus an events-only MessagePack message when the chunk has cockpit events (CAN carries
  no infotainment events);
- ``pb``: one protobuf Record per row (the events ride on the first).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import msgpack

from decoders.can_dbc import load_can_models
from decoders.record_pb import message_classes
from simulator.vehicle import Chunk

WIRES = ("msgpack", "json", "can", "pb")


def map_payload(chunk: Chunk, vin: str, seq: int, as_json: bool) -> bytes:
    """A v1 contract payload for ``chunk``."""
    names: dict[str, None] = {}
    for _, row in chunk.rows:
        names.update(dict.fromkeys(row))
    doc: dict[str, Any] = {"v": 1, "vin": vin, "seq": seq, "t0": chunk.t0,
                           "dt": [t - chunk.t0 for t, _ in chunk.rows],
                           "signals": {n: [row.get(n) for _, row in chunk.rows] for n in names}}
    if chunk.events:
        doc["events"] = chunk.events
    if as_json:
        return json.dumps(doc, separators=(",", ":")).encode()
    return msgpack.packb(doc)  # type: ignore[no-any-return]


@cache
def _can_layout(model: str) -> list[tuple[Any, dict[str, str]]]:
    """Per DBC message of the model's mapping: the message and its VSS path per signal."""
    m = load_can_models().for_model(model)
    return [(msg, {s.name: m.signals[s.name].vss for s in msg.signals if s.name in m.signals})
            for msg in m.messages.values()]


def can_frames(rows: list[tuple[int, dict[str, Any]]], model: str) -> list[list[Any]]:
    """The frames of ``rows``: every DBC message whose signals the row has, at its time."""
    frames: list[list[Any]] = []
    for t, row in rows:
        for msg, paths in _can_layout(model):
            if paths and all(row.get(p) is not None for p in paths.values()):
                values = {s: (int(row[p]) if isinstance(row[p], bool) else row[p])
                          for s, p in paths.items()}
                frames.append([t, msg.frame_id, bytes(msg.encode(values))])
    return frames


def _record(vin: str, seq: int, t: int, row: dict[str, Any], events: list[dict[str, Any]]
            ) -> bytes:
    record = message_classes()["Record"](v=1, vin=vin, seq=seq, created_at_ms=t)
    for key, value in row.items():
        datum = record.data.add(key=key)
        if isinstance(value, bool):
            datum.bool_value = value
        elif isinstance(value, str):
            datum.string_value = value
        elif value is not None:
            datum.double_value = float(value)
    for ev in events:
        e = record.events.add(t_ms=ev["t"], type=ev["type"])
        for k, v in (ev.get("attrs") or {}).items():
            e.attrs[k] = str(v)
    return record.SerializeToString()  # type: ignore[no-any-return]


def payloads(chunk: Chunk, vin: str, model: str, wire: str, seq: int
             ) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of ``chunk``; ``seq`` numbers the first, the rest follow."""
    base = f"vehicles/{vin}/"
    if wire in ("msgpack", "json"):
        yield base + ("telemetry/json" if wire == "json" else "telemetry"), \
            map_payload(chunk, vin, seq, wire == "json")
    elif wire == "can":
        if chunk.rows:
            yield base + "can", msgpack.packb({"v": 1, "vin": vin, "seq": seq,
                                               "frames": can_frames(chunk.rows, model)})
        if chunk.events:
            yield base + "telemetry", msgpack.packb({
                "v": 1, "vin": vin, "seq": seq + bool(chunk.rows), "events": chunk.events})
    elif wire == "pb":
        for i, (t, row) in enumerate(chunk.rows or [(chunk.t0, {})]):
            yield base + "pb", _record(vin, seq + i, t, row, chunk.events if i == 0 else [])
    else:
        raise ValueError(f"unknown wire format {wire!r}")
