"""The feed's ``segment_changed`` events for a vehicle's new activity history: one per
transition, carrying the day's maturity, the new cell's strategy and the owner of that day;
and corrections where what the feed had told for a day no longer holds."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import psycopg

from features import feed, owners
from features.matrix import strategy
from features.profile import DOMAINS_USED_AS_OF, ODOMETER_AS_OF
from features.segments import CHURN_WARNING, maturity


class Subject(Protocol):
    """The vehicle the events are about."""

    id: int
    vin: str
    tz: ZoneInfo
    delivered_on: date | None
    owner_id: str | None
    dealer_id: str | None


async def emit_changes(conn: psycopg.AsyncConnection, v: Subject, history: dict[date, str],
                   prev: str | None, before: dict[date, str]) -> int:
    """A ``segment_changed`` event for each transition of the new history; and where
    what the feed had told for a day (its latest event up to that day) is no longer the
    day's label, a correction from the told label to the new one, so that reading the
    feed by day always gives the current history."""
    start = min(history)
    cur = await conn.execute(
        "SELECT payload->>'day', payload->>'to' FROM feed_events WHERE vehicle_id = %s"
        " AND type = 'segment_changed' AND occurred_at > %s ORDER BY id",
        (v.id, datetime(start.year, start.month, start.day, tzinfo=v.tz)))
    told: dict[str, str] = dict(await cur.fetchall())  # the latest event of each day
    view, emitted = prev, 0
    for day, label in sorted(history.items()):
        if prev is not None and prev != label:
            emitted += await _emit(conn, v, day, prev, label, before.get(day))
            view = label
        elif day.isoformat() in told:
            view = told[day.isoformat()]
        if view is not None and view != label:
            emitted += await _emit(conn, v, day, view, label, view)
            view = label
        prev = label
    return emitted


async def _emit(conn: psycopg.AsyncConnection, v: Subject, day: date, frm: str, to: str,
                was: str | None) -> int:
    cur = await conn.execute(
        f"SELECT {ODOMETER_AS_OF}, {DOMAINS_USED_AS_OF} FROM vehicles a WHERE a.id = %(v)s",
        {"v": v.id, "as_of": day})
    row = await cur.fetchone()
    assert row is not None
    mature = maturity(v.delivered_on, day, row[0], int(row[1]))
    owner = await owners.owner_on(conn, v.id, day, v.owner_id)
    payload = {"vin": v.vin, "owner_id": owner, "dealer_id": v.dealer_id,
               "day": day.isoformat(), "from": frm, "to": to,
               "churn_warning": to in CHURN_WARNING,
               "correction": was is not None and was != to, "maturity": mature,
               "strategy": strategy(to, mature)}
    at = datetime(day.year, day.month, day.day, tzinfo=v.tz) + timedelta(days=1)
    return int(await feed.emit(conn, f"segment_changed:{v.vin}:{day}:{frm}:{to}",
                               "segment_changed", v.id, at, payload))
