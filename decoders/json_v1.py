"""Decoder for ``vehicles/{vin}/telemetry/json``: the map contract (any version) as UTF-8 JSON."""

from __future__ import annotations

import json

from decoders.contract import check_document
from decoders.errors import Rejected
from decoders.readings import DecodeContext, Readings

NAME = "json_v1"


def decode(payload: bytes, ctx: DecodeContext) -> Readings:
    """Decode one JSON telemetry payload."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("malformed", f"json: not UTF-8 at byte {exc.start}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} col {exc.colno}"
        raise Rejected("malformed", f"json: {exc.msg} at {where}") from None
    except RecursionError:
        raise Rejected("malformed", "json: nesting too deep") from None
    return check_document(doc, ctx)
