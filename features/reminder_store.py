"""Reminders in the database: announcements become reminders, items and feed events; the
lifecycle open -> notified -> acknowledged / booked -> resolved / expired.

Every transition is a feed event keyed by reminder and state, so each is emitted once.
``resolved`` and ``expired`` follow from the service book (``features.reminders.outcome``):
they are recomputed on every derivation of the vehicle, whatever order records and data
arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from features import feed
from features.prediction import Rate, predict
from features.reminders import Announcement, announcements, grouped
from features.service import ServiceRecord, book_as_of, load_rules, sort_book

State = Literal["open", "notified", "acknowledged", "booked", "resolved", "expired"]
STATES: tuple[State, ...] = State.__args__  # type: ignore[attr-defined]
OPEN_STATES = ("open", "notified", "acknowledged", "booked")


@dataclass(frozen=True, slots=True)
class VehicleRef:
    """What reminders need to know about a vehicle."""

    id: int
    vin: str
    tz: ZoneInfo
    model: str | None
    powertrain: str | None
    delivered_on: date
    owner_id: str | None
    owner_channel: str | None
    dealer_id: str | None
    advisor_id: str | None


async def ask_book(conn: psycopg.AsyncConnection, vid: int) -> psycopg.AsyncCursor[Any]:
    """Send the read of the vehicle's service book (in pipeline mode: without waiting)."""
    return await conn.execute(
        "SELECT id, done_on, odometer_km, items, engine_hours FROM service_records"
        " WHERE vehicle_id = %s ORDER BY done_on, odometer_km, id", (vid,))


async def read_book(cur: psycopg.AsyncCursor[Any]) -> list[ServiceRecord]:
    """The service book asked by ``ask_book``."""
    return [ServiceRecord(i, d, km, tuple(items), h)
            for i, d, km, items, h in await cur.fetchall()]


def routes(v: VehicleRef, history: str) -> dict[str, Any]:
    """Who is told: the owner (not while the history is unknown: the advisor confirms
    first) and the dealer's advisor."""
    owner = None
    if history == "known" and v.owner_id:
        owner = {"owner_id": v.owner_id, "channel": v.owner_channel}
    advisor = {"dealer_id": v.dealer_id, "advisor_id": v.advisor_id} if v.dealer_id else None
    return {"owner": owner, "advisor": advisor}


def _item_json(a: Announcement, rate: Rate | None) -> dict[str, Any]:
    t = a.target
    rem_km = round(t.due_km - a.odometer_km, 1) if t.due_km is not None else None
    p = predict(rem_km, t.due_date, a.day, rate) if a.threshold == "due_soon" else None
    return {"name": a.item, "status": a.threshold, "reason": a.reason, "assumed": t.assumed,
            "due_km": t.due_km, "due_date": t.due_date.isoformat() if t.due_date else None,
            "odometer_km": round(a.odometer_km, 1), "remaining_km": rem_km,
            "remaining_days": (t.due_date - a.day).days if t.due_date else None,
            "due_hours": t.due_hours, "remaining_hours": round(t.due_hours - a.engine_hours, 2)
            if t.due_hours is not None and a.engine_hours is not None else None,
            "predicted": p.to_json() if p else None, "reading": a.reading}


def _day_end(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tz)


async def _reminder(conn: psycopg.AsyncConnection, v: VehicleRef, cycle: str, history: str,
                    day: date) -> tuple[int, str]:
    cur = await conn.execute(
        "INSERT INTO service_reminders (vehicle_id, cycle, history, state, opened_day,"
        " owner_id, dealer_id, advisor_id) VALUES (%s, %s, %s, 'open', %s, %s, %s, %s)"
        " ON CONFLICT (vehicle_id, cycle) DO UPDATE SET history = EXCLUDED.history"
        " RETURNING id, state", (v.id, cycle, history, day, v.owner_id, v.dealer_id,
                                 v.advisor_id))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


async def announce(conn: psycopg.AsyncConnection, v: VehicleRef, book: list[ServiceRecord],
                   odometer_by_day: dict[date, float], settled_to: date,
                   rate_for: Any, condition_days: dict[date, dict[str, Any]],
                   hours_by_day: dict[date, float]) -> int:
    """Store and emit every announcement not made yet; returns the events emitted.
    ``rate_for(day)`` is the driving rate as of a day (for the predicted dates)."""
    found = announcements(load_rules(), v.model, v.powertrain, v.delivered_on, book,
                          odometer_by_day, settled_to, condition_days, hours_by_day)
    cur = await conn.execute(
        "SELECT r.cycle, i.item, i.threshold FROM service_reminder_items i"
        " JOIN service_reminders r ON r.id = i.reminder_id WHERE r.vehicle_id = %s", (v.id,))
    done = {(c, i, t) for c, i, t in await cur.fetchall()}
    new = [a for a in found if (a.cycle, a.item, a.threshold) not in done]
    emitted = 0
    for (cycle, threshold, day), items in grouped(new):
        history = "known" if book_as_of(sort_book(book), day) else "unknown"
        rid, state = await _reminder(conn, v, cycle, history, day)
        rate = rate_for(day)
        body = [_item_json(a, rate) for a in items]
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO service_reminder_items (reminder_id, item, threshold, day,"
                " odometer_km, due_km, due_date, assumed, reason, reading) VALUES (%(r)s,"
                " %(item)s, %(th)s, %(day)s, %(odo)s, %(km)s, %(date)s, %(assumed)s,"
                " %(reason)s, %(reading)s) ON CONFLICT DO NOTHING",
                [{"r": rid, "item": a.item, "th": a.threshold, "day": a.day,
                  "odo": a.odometer_km, "km": a.target.due_km, "date": a.target.due_date,
                  "assumed": a.target.assumed, "reason": a.reason,
                  "reading": Jsonb(a.reading) if a.reading else None} for a in items])
        names = [a.item for a in items]
        payload = {"reminder_id": str(rid), "reminder_state": state, "vin": v.vin,
                   "model": v.model, "owner_id": v.owner_id, "dealer_id": v.dealer_id,
                   "cycle": cycle, "status": threshold,
                   "day": day.isoformat(), "history": history, "items_due": names,
                   "items": body, "routes": routes(v, history)}
        key = f"service_{threshold}:{v.vin}:{cycle}:{day}:{'+'.join(names)}"
        kind: feed.FeedType = "service_overdue" if threshold == "overdue" else "service_due_soon"
        if await feed.emit(conn, key, kind, v.id, _day_end(day, v.tz), payload):
            emitted += 1
    return emitted
