"""The one list of decoders, and the dispatch from topic to decoder.

Adding a format: write ``decoders/<name>.py`` with ``NAME`` and ``decode``, add one line to
``DECODERS`` naming the topic suffix, and add golden cases under ``tests/golden/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from decoders import can_v1, contract, json_v1, msgpack_v1, pb_v1
from decoders.can_dbc import CanModels
from decoders.catalog import load_catalog
from decoders.errors import DecoderError, Rejected
from decoders.readings import DecodeContext, Readings
from decoders.releases import releases
from decoders.sanity import MAX_PAYLOAD_BYTES, vin_problem

DecodeFn = Callable[[bytes, DecodeContext], Readings]


@dataclass(frozen=True, slots=True)
class DecoderEntry:
    """A registered decoder: its name, the topic suffix it serves and the function."""

    name: str
    suffix: str
    decode: DecodeFn


DECODERS: tuple[DecoderEntry, ...] = (
    DecoderEntry(msgpack_v1.NAME, "telemetry", msgpack_v1.decode),
    DecoderEntry(json_v1.NAME, "telemetry/json", json_v1.decode),
    DecoderEntry(can_v1.NAME, "can", can_v1.decode),
    DecoderEntry(pb_v1.NAME, "pb", pb_v1.decode),
)
_BY_SUFFIX = {d.suffix: d for d in DECODERS}
TOPIC_PREFIX = "vehicles/"
SUBSCRIPTIONS = tuple(f"{TOPIC_PREFIX}+/{d.suffix}" for d in DECODERS)


CONTRACT_TOPIC = "telematics/contract"  # retained: what this gateway accepts


def announcement() -> bytes:
    """The retained message on CONTRACT_TOPIC: contract versions, VSS releases and formats,
    so a vehicle can pick the newest version both sides speak (docs/contract.md)."""
    return json.dumps({
        "contract_versions": sorted(contract.VERSIONS),
        "catalog_vss_release": load_catalog().vss_release,
        "vss_releases": sorted(releases()),
        "topics": {f"{TOPIC_PREFIX}{{vin}}/{d.suffix}": d.name for d in DECODERS},
    }, separators=(",", ":")).encode()


def route(topic: str) -> tuple[str, DecoderEntry]:
    """Split ``vehicles/{vin}/<suffix>`` into the VIN and its decoder."""
    parts = topic.split("/", 2)
    if len(parts) != 3 or parts[0] + "/" != TOPIC_PREFIX:
        raise Rejected("unknown_topic", f"topic {topic[:120]!r} is not vehicles/{{vin}}/...")
    entry = _BY_SUFFIX.get(parts[2])
    if entry is None:
        raise Rejected("unknown_topic", f"no decoder for topic suffix {parts[2][:60]!r}")
    problem = vin_problem(parts[1])
    if problem is not None:
        raise Rejected("bad_vin", f"topic {problem}")
    return parts[1], entry


def topic_vin(topic: str) -> str:
    """The VIN segment of ``vehicles/{vin}/...`` as sent (unchecked; "" if there is none)."""
    parts = topic.split("/", 2)
    return parts[1] if len(parts) == 3 and parts[0] + "/" == TOPIC_PREFIX else ""


def needs_model(topic: str) -> bool:
    """Whether decoding a message of ``topic`` depends on the vehicle's model."""
    return topic.endswith("/can")


def decoder_name_for(topic: str) -> str:
    """The decoder that serves ``topic``, or ``none`` (for dead-letter records)."""
    parts = topic.split("/", 2)
    entry = _BY_SUFFIX.get(parts[2]) if len(parts) == 3 else None
    return entry.name if entry else "none"


def decode_message(topic: str, payload: bytes, now_ms: int, model: str | None = None,
                   can_models: CanModels | None = None) -> Readings:
    """Size check, routing and decoding of one message. Raises Rejected for whole rejects;
    whatever else a decoder raises (its bug, or a library's) leaves as ``DecoderError``, a
    ``Rejected`` with code ``decoder_error`` naming the decoder and the exception.
    ``model``: the vehicle's registered model (the CAN decoder needs it)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(
            "oversize",
            f"payload {len(payload) / 1e6:.1f} MB over the {MAX_PAYLOAD_BYTES / 1e6:g} MB limit",
        )
    vin, entry = route(topic)
    try:
        return entry.decode(payload, DecodeContext(topic, vin, now_ms, model, can_models))
    except Rejected:
        raise
    except (MemoryError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise DecoderError(entry.name, exc) from exc
