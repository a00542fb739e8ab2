"""A reminder's life after it is raised: notified (a webhook delivered one of its events),
acknowledged or booked (the platform or the dealer system says so), then resolved (the
service record that ends its cycle covers its items, or the car visited a dealer) or expired
(the cycle ended another way; ``features.reminders.ending``). Each transition is one feed
event, keyed by state, vehicle and cycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from features import feed
from features.reminder_store import OPEN_STATES, State
from features.reminders import VisitDay, ending
from features.service import ServiceRecord

_ORDER: dict[str, int] = {"open": 0, "notified": 1, "acknowledged": 2, "booked": 3,
                          "resolved": 4, "expired": 4}
_COLUMNS = ("r.id::text AS id, v.vin, v.model, r.cycle, r.history, r.state, r.opened_day,"
            " r.owner_id, r.dealer_id, r.advisor_id, r.notified_at, r.acknowledged_at,"
            " r.booked_at, r.booked_for, r.closed_day, r.closed_record_id, r.closed_at,"
            " r.closed_by, r.closed_visit_id::text AS closed_visit_id,"
            " (SELECT coalesce(jsonb_agg(jsonb_build_object('name', i.item, 'status',"
            "  i.threshold, 'day', i.day, 'reason', i.reason, 'assumed', i.assumed,"
            "  'due_km', i.due_km, 'due_date', i.due_date, 'odometer_km', i.odometer_km,"
            "  'reading', i.reading)"
            "  ORDER BY i.day, i.item, i.threshold), '[]') FROM service_reminder_items i"
            "  WHERE i.reminder_id = r.id) AS items")


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in row.items()}


async def get(conn: psycopg.AsyncConnection, rid: int) -> dict[str, Any] | None:
    """One reminder with its items."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM service_reminders r JOIN vehicles v"
                          " ON v.id = r.vehicle_id WHERE r.id = %s", (rid,))
        row = await cur.fetchone()
    return _json(row) if row else None


async def find(conn: psycopg.AsyncConnection, state: str | None, dealer_id: str | None,
               vin: str | None, after: int, limit: int) -> list[dict[str, Any]]:
    """Reminders by id, filtered."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM service_reminders r JOIN vehicles v ON v.id = r.vehicle_id"
            " WHERE r.id > %(a)s AND (%(s)s::text IS NULL OR r.state = %(s)s)"
            " AND (%(d)s::text IS NULL OR r.dealer_id = %(d)s)"
            " AND (%(v)s::text IS NULL OR v.vin = %(v)s) ORDER BY r.id LIMIT %(n)s",
            {"a": after, "s": state, "d": dealer_id, "v": vin, "n": limit})
        return [_json(r) for r in await cur.fetchall()]


async def _emit(conn: psycopg.AsyncConnection, rid: int, frm: str, to: State,
                at: datetime) -> bool:
    body = await get(conn, rid)
    assert body is not None
    cur = await conn.execute("SELECT vehicle_id FROM service_reminders WHERE id = %s", (rid,))
    row = await cur.fetchone()
    assert row is not None
    kind: feed.FeedType = f"reminder_{to}"  # type: ignore[assignment]
    # keyed by vehicle and cycle, not by the row id: the same history gives the same keys
    return await feed.emit(conn, f"{kind}:{body['vin']}:{body['cycle']}", kind, int(row[0]),
                           at, {"reminder_id": str(rid), "from": frm, **body})


async def transition(conn: psycopg.AsyncConnection, rid: int, to: State,
                     booked_for: date | None = None) -> tuple[bool, dict[str, Any] | None]:
    """Move a reminder forward to ``to`` (notified, acknowledged or booked); returns whether
    it moved and the reminder (None when it does not exist). Must run in a transaction."""
    cur = await conn.execute("SELECT state FROM service_reminders WHERE id = %s FOR UPDATE",
                             (rid,))
    row = await cur.fetchone()
    if row is None:
        return False, None
    frm = str(row[0])
    moved = _ORDER[to] > _ORDER[frm] or (to == "booked" and frm == "booked")
    if moved:
        await conn.execute(
            f"UPDATE service_reminders SET state = %s, {to}_at = coalesce({to}_at, now()),"
            " booked_for = coalesce(%s, booked_for) WHERE id = %s", (to, booked_for, rid))
        if frm != to:
            await _emit(conn, rid, frm, to, datetime.now(UTC))
    return moved, await get(conn, rid)


async def close_finished(conn: psycopg.AsyncConnection, vid: int,
                         book: list[ServiceRecord], visits: list[VisitDay],
                         settled_to: date) -> int:
    """Resolve or expire the vehicle's open reminders whose cycle has ended or whose car
    visited a dealer; returns the events emitted. A reminder a visit resolved takes the
    record of that same day when it arrives later (no new event: the state is the same),
    so the stored evidence does not depend on which came first."""
    cur = await conn.execute(
        "SELECT r.id, r.cycle, r.state, r.opened_day, r.closed_day, array_agg(DISTINCT i.item)"
        " FROM service_reminders r JOIN service_reminder_items i ON i.reminder_id = r.id"
        " WHERE r.vehicle_id = %s AND (r.state = ANY(%s) OR (r.closed_by = 'dealer_visit'"
        " AND r.closed_record_id IS NULL)) GROUP BY 1, 2, 3, 4, 5",
        (vid, list(OPEN_STATES)))
    emitted = 0
    for rid, cycle, frm, opened_day, closed_day, items in await cur.fetchall():
        end = ending(book, visits, cycle, set(items), opened_day, settled_to)
        if end is None:
            continue
        closed = frm not in OPEN_STATES
        if closed and (end.state != frm or end.day != closed_day or end.record_id is None):
            continue
        await conn.execute(
            "UPDATE service_reminders SET state = %(s)s, closed_day = %(d)s,"
            " closed_record_id = %(r)s, closed_visit_id = %(v)s, closed_by = %(by)s,"
            " closed_at = coalesce(closed_at, now()) WHERE id = %(id)s",
            {"s": end.state, "d": end.day, "r": end.record_id, "v": end.visit_id,
             "by": end.by, "id": rid})
        if not closed:
            at = datetime.combine(end.day, time(), UTC)  # the record's day, not its zone
            emitted += await _emit(conn, rid, frm, end.state, at)
    return emitted
