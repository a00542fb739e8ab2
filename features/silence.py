"""A vehicle that sends nothing at all is *silent* (not parked: a parked car still sends
heartbeats). After ``silent_hours`` without any message its days settle on the wall clock
(``features.engine.Deriver.settle_by_clock``) and one ``vehicle_silent`` event marks the
silence, keyed by the last message's time, so each silence is announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from features import feed


async def emit_silent(conn: psycopg.AsyncConnection, vid: int, vin: str, owner_id: str | None,
                      dealer_id: str | None, last_seen: datetime, silent_hours: float) -> int:
    """The silence's event, once; returns 1 when it is new."""
    last = last_seen.astimezone(UTC)
    payload = {"vin": vin, "owner_id": owner_id, "dealer_id": dealer_id,
               "last_seen": feed.iso_z(last),
               "silent_hours": silent_hours}
    key = f"vehicle_silent:{vin}:{int(last.timestamp() * 1000)}"
    return int(await feed.emit(conn, key, "vehicle_silent", vid,
                               last + timedelta(hours=silent_hours), payload))


async def still_silent(conn: psycopg.AsyncConnection, vin: str, last_seen: datetime | None
                       ) -> bool:
    """Whether the silence announced for the vehicle's last message still holds (nothing
    has arrived since): its wall-clock days stay settled."""
    if last_seen is None:
        return False
    key = f"vehicle_silent:{vin}:{int(last_seen.astimezone(UTC).timestamp() * 1000)}"
    cur = await conn.execute("SELECT 1 FROM feed_events WHERE key = %s", (key,))
    return await cur.fetchone() is not None
