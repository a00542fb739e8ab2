"""Bytes to envelopes: the decode step of the pipeline, shared by replay and dead-letter
retries. Never raises for bad input: every message becomes an envelope, decoded or not."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from decoders.can_dbc import CanModels
from decoders.errors import DecoderError, Rejected
from decoders.registry import decode_message, decoder_name_for, needs_model, topic_vin
from timeseries.batch import Envelope
from timeseries.store import Store

log = logging.getLogger(__name__)
TRACEBACK_EVERY_S = 60.0
_last_traceback: dict[tuple[str, str], float] = {}


def _log_decoder_error(exc: DecoderError, topic: str) -> None:
    """One line with the traceback per (decoder, exception class) per minute at most."""
    key = (exc.decoder, type(exc.exception).__name__)
    now = time.monotonic()
    if now - _last_traceback.get(key, -TRACEBACK_EVERY_S) >= TRACEBACK_EVERY_S:
        _last_traceback[key] = now
        log.error("decoder %s raised %s on %s (kept as a dead letter, reason decoder_error)",
                  exc.decoder, key[1], topic[:120], exc_info=exc.exception)


def decode_envelope(topic: str, payload: bytes, received_ms: int, model: str | None = None,
                    can_models: CanModels | None = None) -> Envelope:
    """Decode one message into an envelope; bad input, or a decoder's bug, never raises."""
    try:
        readings = decode_message(topic, payload, received_ms, model, can_models)
    except Rejected as exc:
        if isinstance(exc, DecoderError):
            _log_decoder_error(exc, topic)
        return Envelope(topic, payload, received_ms, decoder_name_for(topic), None,
                        [exc.rejection])
    return Envelope(topic, payload, received_ms, decoder_name_for(topic), readings,
                    list(readings.rejections))


async def decode_batch(store: Store, messages: Sequence[tuple[str, bytes, int]],
                       can_models: CanModels | None = None) -> list[Envelope]:
    """Decode (topic, payload, received ms) messages, looking up the vehicle models the
    decoders of these topics need (one query per batch at most)."""
    vins = {topic_vin(topic) for topic, _, _ in messages if needs_model(topic)}
    known = await store.models(vins) if vins else {}
    return [decode_envelope(topic, payload, received, known.get(topic_vin(topic)),
                            can_models) for topic, payload, received in messages]
