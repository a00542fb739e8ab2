"""Decoder for ``vehicles/{vin}/telemetry``: the map contract (any version) as MessagePack."""

from __future__ import annotations

from typing import Any

import msgpack

from decoders import map_template
from decoders.contract import check_document
from decoders.errors import Rejected
from decoders.readings import DecodeContext, Readings

NAME = "msgpack_v1"
_MAX_LEN = 1_000_000


def decode(payload: bytes, ctx: DecodeContext) -> Readings:
    """Decode one MessagePack telemetry payload (read from its bytes when a map of its
    shape was seen before: ``decoders.map_template``)."""
    known = map_template.decode_known(payload, ctx)
    if known is not None:
        return known
    doc = unpack(payload)
    readings = check_document(doc, ctx)
    map_template.remember(payload, doc, readings)
    return readings


def unpack(payload: bytes) -> Any:
    """The MessagePack document, with limits; Rejected (malformed) if it is not one."""
    try:
        doc = msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=False,
            max_str_len=_MAX_LEN,
            max_bin_len=_MAX_LEN,
            max_array_len=_MAX_LEN,
            max_map_len=_MAX_LEN,
            max_ext_len=0,
        )
    except msgpack.ExtraData:
        raise Rejected("malformed", "msgpack: trailing bytes after the payload map") from None
    except (ValueError, msgpack.UnpackException, TypeError, RecursionError) as exc:
        why = str(exc)[:120] or "not valid MessagePack"
        raise Rejected("malformed", f"msgpack: {type(exc).__name__}: {why}") from None
    return doc
