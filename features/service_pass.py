"""The service step of a vehicle's derivation: announce what crossed a threshold on a
settled day, close the reminders whose cycle ended, keep the snapshot the worklist reads."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import psycopg

from features import dtcs, reminder_lifecycle, reminder_store, visit_store
from features.queries import (
    ask_daily_series,
    ask_position,
    daily_series,
    rate_as_of,
    service_position,
)
from features.reminder_store import VehicleRef
from features.reminders import VisitDay
from features.service import RANK, to_json


async def service_pass(conn: psycopg.AsyncConnection, v: VehicleRef, last_sample_at: datetime,
                       settled_to: date, default_tz: str, disagreement_km: float,
                       visit_minutes: float) -> int:
    """Run in the vehicle's derivation transaction; returns the feed events emitted."""
    # the reads that no step below writes to are sent first, and answered with the first
    # read of the visits: one round trip in pipeline mode. One read of the days up to the
    # latest data day serves both the position and the announcements (which stop at
    # ``settled_to`` on their own)
    upto = last_sample_at.astimezone(v.tz).date()
    series_cur = await ask_daily_series(conn, v.id, upto)
    reports_cur = await dtcs.ask_reports(conn, v.id)
    position_cur = await ask_position(conn, v.id)
    reported_cur = await conn.execute(
        "SELECT distance_to_service_km FROM samples WHERE vehicle_id = %s"
        " AND ts > %s - interval '7 days' AND distance_to_service_km IS NOT NULL"
        " ORDER BY ts DESC LIMIT 1", (v.id, last_sample_at))
    emitted = await visit_store.record_visits(conn, v, settled_to, visit_minutes)
    series = await daily_series(conn, v.id, upto, series_cur)
    await dtcs.refresh(conn, v.id, v.tz, series.conditions, reports_cur)
    status, book, _ = await service_position(conn, v.id, default_tz, series, position_cur)
    rep = await reported_cur.fetchone()
    if status is None:
        return emitted
    emitted += await reminder_store.announce(conn, v, book, series.odometer, settled_to,
                                            rate_as_of(series.km), series.conditions,
                                            series.engine_hours)
    visits = [VisitDay(x.id, x.day) for x in await visit_store.visits_of(conn, v.id)]
    emitted += await reminder_lifecycle.close_finished(conn, v.id, book, visits, settled_to)
    snapshot = to_json(status)
    nxt = status.next
    next_date = None
    if nxt is not None:
        if nxt.status == "overdue":  # due now, whatever another rule would predict
            next_date = last_sample_at.astimezone(v.tz).date()
        else:
            next_date = nxt.prediction.expected if nxt.prediction else nxt.due_date
    condition_day = await _condition_items(conn, v.id, snapshot)
    if condition_day is not None:
        next_date = condition_day
    reported = float(rep[0]) if rep else None
    ours = next((i.remaining_km for i in status.items if i.name == "inspection"), None)
    snapshot["reported_distance_to_service_km"] = reported
    snapshot["disagreement"] = reported is not None and ours is not None \
        and abs(reported - ours) > disagreement_km
    await conn.execute(
        "UPDATE vehicles SET service_status = %s, service_next_date = %s,"
        " service_snapshot = %s::jsonb WHERE id = %s",
        (snapshot["status"], next_date, json.dumps(snapshot), v.id))
    return emitted


async def _condition_items(conn: psycopg.AsyncConnection, vid: int, snapshot: dict[str, Any]
                           ) -> date | None:
    """Condition items announced in the current cycle join the snapshot's items (with the
    reading that made them due); one that is worse than the status becomes ``next`` and its
    day is returned."""
    cur = await conn.execute(
        "SELECT i.item, i.threshold, i.day, i.reading FROM service_reminder_items i"
        " JOIN service_reminders r ON r.id = i.reminder_id WHERE r.vehicle_id = %s"
        " AND r.cycle = %s AND i.reason = 'condition' ORDER BY i.day, i.item",
        (vid, snapshot["cycle"]))
    worse = None
    for item, threshold, day, reading in await cur.fetchall():
        entry = {"name": item, "status": threshold, "reason": "condition", "assumed": False,
                 "due_km": None, "due_date": day.isoformat(), "remaining_km": None,
                 "remaining_days": None, "predicted": None, "reading": reading}
        snapshot["items"] = [i for i in snapshot["items"] if i["name"] != item] + [entry]
        if item not in snapshot["items_due"]:
            snapshot["items_due"].append(item)
        if RANK[threshold] > RANK[snapshot["status"]]:
            snapshot["status"], snapshot["next"], worse = threshold, entry, day
    return worse
