"""The durable events feed: one row per event, ids increasing in commit order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg

FeedType = Literal["service_due_soon", "service_overdue", "segment_changed",
                   "reminder_notified", "reminder_acknowledged", "reminder_booked",
                   "reminder_resolved", "reminder_expired", "dealer_visit",
                   "vehicle_silent", "ownership_transferred", "software_updated"]
FEED_TYPES: tuple[FeedType, ...] = FeedType.__args__  # type: ignore[attr-defined]
FEED_LOCK = 7_347_002  # serialises feed inserts so ids become visible in increasing order


async def emit(conn: psycopg.AsyncConnection, key: str, kind: FeedType, vehicle_id: int,
               occurred_at: datetime, payload: dict[str, Any]) -> bool:
    """Insert an event once per ``key`` (idempotent). Must run inside a transaction; holds
    the feed lock until commit so a reader never sees id N+1 before id N."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,))
    cur = await conn.execute(
        "INSERT INTO feed_events (key, type, vehicle_id, occurred_at, payload)"
        " VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT (key) DO NOTHING RETURNING 1",
        (key, kind, vehicle_id, occurred_at, json.dumps(payload, default=str)))
    return await cur.fetchone() is not None  # (in pipeline mode rowcount is not known yet)


def at_ms(t_ms: int) -> datetime:
    """The UTC instant of milliseconds since the epoch."""
    return datetime.fromtimestamp(t_ms / 1000, UTC)


def iso_z(at: datetime) -> str:
    """An instant as payloads and API bodies write it: ISO 8601 in UTC with ``Z``."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
