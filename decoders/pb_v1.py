"""Decoder for ``vehicles/{vin}/pb``: one protobuf ``Record`` per message
(``proto/telematics.proto``): the values of one instant as typed key/value datums.

The record is read into the map contract (``created_at_ms`` is the row's time, each datum
a signal, its set value field the value) and checked like every other format, so a datum
of the wrong type is a ``bad_value`` and an unknown key an ``unknown_signal``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError

from decoders.contract import check_document
from decoders.errors import Rejected, Rejection
from decoders.readings import DecodeContext, Readings
from decoders.record_pb import message_classes

NAME = "protobuf_v1"


def decode(payload: bytes, ctx: DecodeContext) -> Readings:
    """Decode one protobuf Record."""
    record = message_classes()["Record"]()
    try:
        record.ParseFromString(payload)
    except (DecodeError, RecursionError) as exc:
        raise Rejected("malformed", f"protobuf: {str(exc)[:120] or 'not a Record'}") from None
    doc: dict[str, Any] = {"v": record.v, "vin": record.vin, "seq": record.seq}
    if record.vss:
        doc["vss"] = record.vss
    repeated: list[Rejection] = []
    if record.data:
        signals: dict[str, list[Any]] = {}
        for datum in record.data:
            kind = datum.WhichOneof("value")
            if datum.key in signals:
                repeated.append(Rejection("schema", f"datum {datum.key[:80]!r} appears more than"
                                                    " once; the first is kept"))
                continue
            signals[datum.key] = [getattr(datum, kind) if kind else None]
        doc.update(t0=record.created_at_ms, dt=[0], signals=signals)
    elif record.created_at_ms:
        doc["t0"] = record.created_at_ms
    if record.events:
        doc["events"] = [{"t": e.t_ms, "type": e.type, "attrs": dict(e.attrs)}
                         for e in record.events]
    readings = check_document(doc, ctx)
    readings.rejections[:0] = repeated
    return readings
