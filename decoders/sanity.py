"""Shared sanity checks run on every decoded record, whatever the wire format."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from decoders.catalog import SignalSpec
from decoders.errors import Rejection

MAX_PAYLOAD_BYTES = 1_000_000
MAX_ROWS = 20_000
MAX_EVENTS = 5_000
FUTURE_SLACK_MS = 25 * 3600 * 1000
EARLIEST_MS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)
VIN_ALPHABET = frozenset("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")


def vin_problem(vin: str) -> str | None:
    """Why ``vin`` is not a 17-character VIN (letters I, O, Q are never used), or None."""
    if len(vin) != 17:
        return f"vin {vin[:40]!r} has {len(vin)} characters, expected 17"
    if VIN_ALPHABET.issuperset(vin):
        return None
    bad = sorted(set(vin) - VIN_ALPHABET)
    if bad:
        return f"vin {vin!r} has characters outside A-Z/0-9 (no I, O, Q): {''.join(bad)}"
    return None


def iso_ms(t_ms: int) -> str:
    """A millisecond timestamp as an ISO date-time, or the raw number if out of range."""
    try:
        return datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{t_ms} ms"


def timestamp_problem(t_ms: int, now_ms: int) -> Rejection | None:
    """Reject timestamps before 2000 or more than 25 h ahead of the gateway clock."""
    if t_ms < EARLIEST_MS:
        return Rejection("bad_timestamp", f"timestamp {iso_ms(t_ms)} before 2000-01-01")
    if t_ms > now_ms + FUTURE_SLACK_MS:
        return Rejection(
            "bad_timestamp", f"timestamp {iso_ms(t_ms)} more than 25 h in the future"
        )
    return None


def encode_value(spec: SignalSpec, raw: object) -> float | Rejection:
    """Check one wire value against the catalog and return its storage encoding."""
    kind = spec.type
    if kind == "enum":
        if isinstance(raw, str) and raw in spec.values:
            return float(spec.values.index(raw))
        return Rejection(
            "bad_value", f"signal {spec.name}: {raw!r} not one of {', '.join(spec.values)}"
        )
    if kind == "bool":
        if isinstance(raw, bool):
            return 1.0 if raw else 0.0
        return Rejection("bad_value", f"signal {spec.name}: {raw!r} is not a boolean")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return Rejection("bad_value", f"signal {spec.name}: {raw!r} is not a number")
    value = float(raw)
    if not math.isfinite(value):
        return Rejection("bad_value", f"signal {spec.name}: {raw!r} is not finite")
    assert spec.min is not None and spec.max is not None
    if not spec.min <= value <= spec.max:
        return Rejection(
            "out_of_range", f"signal {spec.name}: {raw!r} outside {spec.range_text()}"
        )
    return value
