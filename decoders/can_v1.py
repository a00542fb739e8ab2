"""Decoder for ``vehicles/{vin}/can``: batches of raw CAN frames, decoded with the DBC of
the vehicle's model (``data/can/models.json``; the default for unregistered vehicles).

Payload (MessagePack): ``{"v": 1, "vin": ..., "seq": ..., "frames": [[t_ms, id, data],
...]}``. Frames of one instant make one row; DBC signals become catalog signals through the
model's mapping file, then the map contract's checks run as for every other format.
Frames whose id the DBC does not describe are counted (``unknown_frames``), not rejected.

A batch is decoded all at once (``decoders.can_vector``) when it is well formed and its
messages are compiled; otherwise frame by frame with the DBC library, which the batch
decoding equals exactly. A batch of a shape seen before is read straight from its bytes
(``decoders.can_template``).
"""

from __future__ import annotations

from typing import Any

import cantools

from decoders.can_dbc import UNAVAILABLE, CanModel, load_can_models
from decoders.can_template import decode_known, remember
from decoders.can_vector import decode_batch, table_for
from decoders.contract import check_document
from decoders.errors import Rejected, Rejection
from decoders.msgpack_v1 import unpack
from decoders.readings import DecodeContext, Readings
from decoders.sanity import MAX_ROWS

NAME = "can_v1"
VERSION = 1
MAX_FRAMES = 100_000


def decode(payload: bytes, ctx: DecodeContext) -> Readings:
    """Decode one batch of CAN frames."""
    model = (ctx.can_models or load_can_models()).for_model(ctx.model)
    table = table_for(model)
    if table.templates:
        known = decode_known(payload, table, ctx)
        if known is not None:
            return known
    doc = unpack(payload)
    if not isinstance(doc, dict):
        raise Rejected("schema", f"payload is a {type(doc).__name__}, expected a map")
    if doc.get("v") != VERSION:
        raise Rejected("unsupported_version",
                       f"CAN batch version {doc.get('v')!r} not supported (supported: 1)")
    frames = doc.get("frames")
    if not isinstance(frames, list) or not frames:
        raise Rejected("schema", "field 'frames' must be a non-empty list of [t_ms, id, data]")
    if len(frames) > MAX_FRAMES:
        raise Rejected("schema", f"frames has {len(frames)} entries, over the {MAX_FRAMES} limit")
    readings = decode_batch(doc, frames, model, ctx)
    if readings is None:
        return decode_reference(doc, frames, model, ctx)
    remember(payload, frames, table)
    return readings


def decode_reference(doc: dict[Any, Any], frames: list[Any], model: CanModel,
                     ctx: DecodeContext) -> Readings:
    """Frame by frame with the DBC library: the reference the batch decoder must equal, and
    the decoding of every batch it declines, with a reason for each bad frame."""
    rejections: list[Rejection] = []
    rows, unknown, unavailable = _rows(frames, model, rejections)
    if not rows:
        ids = ", ".join(sorted(unknown)) or "none"
        first = rejections[0].detail if rejections else f"ids not in {model.dbc_name}: {ids}"
        raise Rejected("bad_frame", f"no frame could be decoded ({first})")
    times = sorted(rows)
    if len(times) > MAX_ROWS:
        raise Rejected("schema", f"frames span {len(times)} instants, over the {MAX_ROWS} limit")
    names = sorted({name for row in rows.values() for name in row})
    readings = check_document({
        "v": 1, "vin": doc.get("vin"), "seq": doc.get("seq"), "t0": times[0],
        "dt": [t - times[0] for t in times],
        "signals": {n: [rows[t].get(n) for t in times] for n in names}}, ctx)
    readings.rejections[:0] = rejections
    readings.unknown_frames = sum(unknown.values())
    readings.unavailable_values = unavailable
    return readings


def _rows(frames: list[Any], model: CanModel, rejections: list[Rejection]
          ) -> tuple[dict[int, dict[str, Any]], dict[str, int], int]:
    """Catalog signal values by frame time, how many frames each unknown id had, and how
    many raw values were named "not available" by the DBC."""
    rows: dict[int, dict[str, Any]] = {}
    unknown: dict[str, int] = {}
    unavailable = 0
    for i, frame in enumerate(frames):
        if type(frame) is not list or len(frame) != 3 or type(frame[0]) is not int \
                or type(frame[1]) is not int or type(frame[2]) is not bytes:
            rejections.append(Rejection("bad_frame", f"frames[{i}] is not [t_ms, id, bytes]"))
            continue
        t, arbitration_id, data = frame
        message = model.messages.get(arbitration_id)
        if message is None:
            key = f"0x{arbitration_id:X}"
            unknown[key] = unknown.get(key, 0) + 1
            continue
        try:
            decoded = message.decode(data, decode_choices=True)
        except (cantools.database.DecodeError, ValueError, KeyError) as exc:
            rejections.append(Rejection(
                "bad_frame", f"frames[{i}] id 0x{arbitration_id:X} ({message.name}): {exc}"))
            continue
        row = rows.setdefault(t, {})
        for signal, value in decoded.items():
            target = model.signals.get(signal)
            if target is not None:
                converted = target.convert(value)
                if converted is UNAVAILABLE:
                    unavailable += 1
                else:
                    row[target.vss] = converted
    return rows, unknown, unavailable
