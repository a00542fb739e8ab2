"""Dead-letter retry after a decoder fix (API and CLI)."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from decoders.can_dbc import CanModels
from decoders.registry import needs_model, topic_vin
from gateway.decode import decode_envelope
from timeseries.schema import Layout
from timeseries.vehicles import ModelLookup
from timeseries.writer import BatchWriter


async def retry(conn: psycopg.AsyncConnection, layout: Layout, dl_id: int,
                can_models: CanModels | None = None) -> dict[str, Any] | None:
    """Decode a dead letter again; store what is valid now; record the outcome."""
    cur = await conn.execute("SELECT topic, payload FROM dead_letters WHERE id = %s", (dl_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    topic, payload = row[0], bytes(row[1])
    now = int(time.time() * 1000)
    vin = topic_vin(topic)
    model = (await ModelLookup(0).models(conn, [vin]))[vin] if needs_model(topic) else None
    env = decode_envelope(topic, payload, now, model, can_models)
    readings = env.readings
    if readings is None:
        outcome, detail, stored = "still_rejected", env.rejections[0].detail, 0
    else:
        env.rejections = []  # stored now; the dead letter it came from stays as it is
        stored = (await BatchWriter(conn, layout).write([env])).values
        outcome = "stored" if not readings.rejections else "stored_partly"
        detail = "; ".join(r.detail for r in readings.rejections[:5])
    await conn.execute(
        "UPDATE dead_letters SET retried_at = now(), retry_outcome = %s, retry_detail = %s"
        " WHERE id = %s", (outcome, detail, dl_id))
    return {"id": dl_id, "outcome": outcome, "detail": detail, "values_stored": stored}


async def retry_reason(conn: psycopg.AsyncConnection, layout: Layout, reason: str,
                       can_models: CanModels | None = None) -> list[dict[str, Any]]:
    """Retry every dead letter of one reason code."""
    cur = await conn.execute("SELECT id FROM dead_letters WHERE reason_code = %s ORDER BY id",
                             (reason,))
    out = []
    for (dl_id,) in await cur.fetchall():
        result = await retry(conn, layout, dl_id, can_models)
        if result:
            out.append(result)
    return out
