"""A MessagePack telemetry map read straight from its bytes, when its shape has been seen.

Cars send the same map again and again: the same keys in the same order, the same signal
names, the same row offsets, every value a float. Only the VIN, the sequence number, ``t0``
and the values' bytes differ from one message to the next, so everything else of such a
payload is the same byte string. The second time a map of that byte length is checked as
the common case (v1, known numeric signals, every value a float in range, no events or
lists; ``decoders.contract_v1`` and ``decoders.signal_block``), a ``MapTemplate`` records
where those fields sit; a later payload whose other bytes are the template's (one gather,
one comparison) is read with one gather of its values and checked with the same rules
(the VIN against the topic's, the ranges of ``seq`` and ``t0``, the timestamps, the catalog
ranges), with no Python object per value. Anything else is unpacked as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from decoders.readings import DecodeContext, Readings
from decoders.sanity import timestamp_problem
from decoders.shape_memo import ShapeMemo
from decoders.signal_block import numeric_shape

_FLOAT64, _UINT64, _FIXSTR = 0xCB, 0xCF, 0xA0
_UINT_WIDTH = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}  # after the marker; fixints are the byte


@dataclass(frozen=True, slots=True)
class MapTemplate:
    """Where a map's variable fields sit in its payload, and what the rest must be."""

    fixed_at: np.ndarray   # every other byte ...
    fixed: bytes           # ... and its value
    vin: slice
    seq: slice             # the value's bytes (a fixint: the byte itself)
    seq_fixint: bool
    t0: slice
    values_at: np.ndarray  # (signals x rows, 8): each float's bytes, big-endian
    columns: tuple[str, ...]
    rows: int
    dt: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray


TEMPLATES: ShapeMemo[MapTemplate] = ShapeMemo()


def decode_known(payload: bytes, ctx: DecodeContext) -> Readings | None:
    """The readings of a map of a known shape, or None (unpack and check it as usual)."""
    found = TEMPLATES.candidates(len(payload))
    if not found:
        return None
    buf = np.frombuffer(payload, np.uint8)
    for t in found:
        if buf[t.fixed_at].tobytes() == t.fixed:
            break
    else:
        return None
    seq = int.from_bytes(payload[t.seq], "big")
    t0 = int.from_bytes(payload[t.t0], "big")
    if payload[t.vin] != ctx.topic_vin.encode() or (t.seq_fixint and seq > 127):
        return None  # another VIN (rejected as such), or a negative seq
    if seq >= 2**63 or t0 >= 2**63 or timestamp_problem(t0, ctx.now_ms) is not None \
            or timestamp_problem(t0 + min(t.dt), ctx.now_ms) is not None \
            or timestamp_problem(t0 + max(t.dt), ctx.now_ms) is not None:
        return None
    block = buf[t.values_at].view(">f8").reshape(len(t.columns), t.rows).astype(np.float64)
    if not ((block >= t.low) & (block <= t.high)).all():  # NaN fails both tests
        return None
    return Readings(vin=ctx.topic_vin, seq=seq, t0_ms=t0, ts_ms=[t0 + d for d in t.dt],
                    signals=list(t.columns), values=block, value_count=block.size)


def remember(payload: bytes, doc: Any, readings: Readings) -> None:
    """Record the shape of a map that was checked as the common case, the second time a
    payload of its length is seen, if its bytes are the canonical MessagePack of it."""
    if type(doc) is not dict or doc.get("v") != 1 or type(doc["v"]) is not int \
            or "events" in doc or readings.rejections or readings.dtc_reports \
            or readings.software_reports or not readings.value_count:
        return
    signals, dt = doc.get("signals"), doc.get("dt")
    if type(signals) is not dict or type(dt) is not list \
            or readings.value_count != len(signals) * len(dt) or len(readings.ts_ms) != len(dt):
        return
    if not TEMPLATES.second_sight(len(payload)):
        return
    shape = numeric_shape(tuple(signals))
    if shape is None or list(shape.columns) != readings.signals \
            or msgpack.packb(doc) != payload:
        return
    template = _template(payload, signals, dt, shape)
    if template is not None:
        TEMPLATES.keep(len(payload), template)


def _template(payload: bytes, signals: dict[Any, Any], dt: list[Any], shape: Any
              ) -> MapTemplate | None:
    up = msgpack.Unpacker(raw=False)
    up.feed(payload)
    fields: dict[str, slice] = {}
    values: list[int] = []
    seq_fixint = False
    for _ in range(up.read_map_header()):
        key, at = up.unpack(), up.tell()
        marker = payload[at]
        if key == "signals":
            for _ in range(up.read_map_header()):
                up.skip()
                for _ in range(up.read_array_header()):
                    if payload[up.tell()] != _FLOAT64:
                        return None
                    values.append(up.tell() + 1)
                    up.skip()
            continue
        if key == "vin" and marker & 0xE0 == _FIXSTR:
            fields[key] = slice(at + 1, at + 1 + (marker & 0x1F))
        elif key == "seq" and (marker < 0x80 or marker in _UINT_WIDTH):
            seq_fixint = marker < 0x80
            fields[key] = slice(at, at + 1) if seq_fixint else \
                slice(at + 1, at + 1 + _UINT_WIDTH[marker])
        elif key == "t0" and marker == _UINT64:
            fields[key] = slice(at + 1, at + 9)
        up.skip()
    if len(fields) != 3 or len(values) != len(signals) * len(dt) or up.tell() != len(payload):
        return None
    fixed = np.ones(len(payload), bool)
    for part in fields.values():
        fixed[part] = False
    at = np.array(values, np.intp)[:, None] + np.arange(8)
    fixed[at.ravel()] = False
    where = np.flatnonzero(fixed)
    return MapTemplate(where, np.frombuffer(payload, np.uint8)[where].tobytes(), fields["vin"],
                       fields["seq"], seq_fixint, fields["t0"], at, shape.columns, len(dt),
                       tuple(dt), shape.low, shape.high)
