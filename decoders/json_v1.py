"""Decoder for ``vehicles/{vin}/telemetry/json``: the map contract (any version) as UTF-8 JSON."""

from __future__ import annotations

import json
from typing import Any

import orjson

from decoders.contract import check_document
from decoders.errors import Rejected
from decoders.readings import DecodeContext, Readings

NAME = "json_v1"

# orjson parses a W1 message in a third of the standard parser's time, but reads integers
# past 64 bits as floats; a payload with a run of 19 digits (every such integer has one)
# goes to the standard parser, which keeps them exact, as does anything orjson refuses
# (NaN, lone surrogates, ...), so results and rejection reasons are the standard parser's.
_DIGITS_TO_ZERO = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_NUMBER = b"0" * 19


def parse(payload: bytes) -> Any:
    """The JSON document in ``payload``, exactly as ``json.loads`` reads it; Rejected if
    it is not JSON."""
    if _LONG_NUMBER not in payload.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("malformed", f"json: not UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} col {exc.colno}"
        raise Rejected("malformed", f"json: {exc.msg} at {where}") from None
    except RecursionError:
        raise Rejected("malformed", "json: nesting too deep") from None


def decode(payload: bytes, ctx: DecodeContext) -> Readings:
    """Decode one JSON telemetry payload."""
    return check_document(parse(payload), ctx)
