"""Decoder for ``vehicles/{vin}/telemetry``: the v1 contract as MessagePack."""

from __future__ import annotations

import msgpack

from decoders.contract_v1 import check_map
from decoders.errors import Rejected
from decoders.readings import DecodeContext, Readings

NAME = "msgpack_v1"
_MAX_LEN = 1_000_000


def decode(payload: bytes, ctx: DecodeContext) -> Readings:
    """Decode one MessagePack telemetry payload."""
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
    return check_map(doc, ctx)
