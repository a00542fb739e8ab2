"""Owner engagement outside the car: the brand's app opened, a remote command, a campaign
clicked, a booking made. The platform posts them per owner; each event id is kept once, so
a batch can be re-sent safely. Each event adds its weight (features/data/activity.json) to
the engagement score of its local day for the vehicle it names, or, without a VIN, for
every vehicle the owner held that day; a day reaching the threshold is an engaged day for
the vehicle's activity, whether or not the car was driven (docs/profiles.md).

Posting marks the hours of the events on those vehicles for derivation, so a late event
corrects the activity history like late telemetry does (corrections flagged on the feed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from decoders.sanity import vin_problem
from features import owners
from features.rollups import local_day
from features.segments import ENGAGEMENT_TYPES, ActivityRules

MAX_BATCH = 1000
FUTURE_SKEW = timedelta(minutes=10)


class EngagementError(ValueError):
    """A batch is invalid; the message names the event and field."""


@dataclass(frozen=True, slots=True)
class Engagement:
    """One engagement event."""

    event_id: str
    type: str
    at: datetime
    vin: str | None = None


def parse(body: dict[str, Any], now: datetime) -> list[Engagement]:
    """``{"events": [{"event_id", "type", "at", "vin"?}, ...]}``, at most MAX_BATCH."""
    events = body.get("events")
    if set(body) != {"events"} or not isinstance(events, list) or not events:
        raise EngagementError("body must be {\"events\": [...]} (field 'events')")
    if len(events) > MAX_BATCH:
        raise EngagementError(f"field 'events': at most {MAX_BATCH} per batch")
    return [_event(n, e, now) for n, e in enumerate(events)]


def _event(n: int, e: Any, now: datetime) -> Engagement:
    where = f"events[{n}]"
    if not isinstance(e, dict):
        raise EngagementError(f"{where}: expected an object")
    unknown = sorted(set(e) - {"event_id", "type", "at", "vin"})
    if unknown:
        raise EngagementError(f"{where}: unknown field {unknown[0]!r}")
    eid, kind, at, vin = e.get("event_id"), e.get("type"), e.get("at"), e.get("vin")
    if not isinstance(eid, str) or not 0 < len(eid) <= 200:
        raise EngagementError(f"{where}.event_id: a string of 1 to 200 characters")
    if kind not in ENGAGEMENT_TYPES:
        raise EngagementError(f"{where}.type: one of {', '.join(ENGAGEMENT_TYPES)}")
    try:
        when = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        raise EngagementError(f"{where}.at: an ISO 8601 time with its offset") from None
    if when.tzinfo is None:
        raise EngagementError(f"{where}.at: an ISO 8601 time with its offset")
    if when > now + FUTURE_SKEW:
        raise EngagementError(f"{where}.at: in the future")
    if vin is not None and (not isinstance(vin, str) or vin_problem(vin)):
        raise EngagementError(f"{where}.vin: not a VIN")
    return Engagement(eid, str(kind), when, vin)


async def add(conn: psycopg.AsyncConnection, owner_id: str, events: list[Engagement]
              ) -> tuple[str, int]:
    """Store the new events for the owner (by any id) and mark their vehicles' hours for
    derivation. Returns the surviving owner id and how many events were new."""
    survivor = await owners.resolve(conn, owner_id)
    new = 0
    for e in events:
        cur = await conn.execute(
            "INSERT INTO owner_engagement (event_id, owner_id, type, at, vin) VALUES"
            " (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING 1",
            (e.event_id, survivor, e.type, e.at, e.vin))
        if await cur.fetchone() is None:
            continue
        new += 1
        await _mark(conn, survivor, e.vin, e.at)
    return survivor, new


async def _mark(conn: psycopg.AsyncConnection, owner: str, vin: str | None, at: datetime
                ) -> None:
    day = at.astimezone(UTC).date()
    await conn.execute(
        # a touched row tells a derivation running now that the hour changed again
        "INSERT INTO dirty_hours (vehicle_id, hour) SELECT DISTINCT v.id, %(hour)s"
        " FROM vehicles v WHERE v.last_sample_at IS NOT NULL AND (v.vin = %(vin)s OR"
        " (%(vin)s::text IS NULL AND EXISTS (SELECT 1 FROM ownership_periods p"
        " WHERE p.vehicle_id = v.id AND p.owner_id = %(owner)s"
        " AND p.from_day <= %(day)s::date + 1"
        " AND (p.to_day IS NULL OR p.to_day >= %(day)s::date - 1))))"
        " ON CONFLICT (vehicle_id, hour) DO UPDATE SET touched_at = clock_timestamp()",
        {"hour": int(at.timestamp()) // 3600, "vin": vin, "owner": owner, "day": day})


async def remark(conn: psycopg.AsyncConnection, owner_id: str) -> None:
    """After a merge: the owner's events without a VIN count for more vehicles now."""
    cur = await conn.execute("SELECT at FROM owner_engagement WHERE owner_id = %s"
                             " AND vin IS NULL", (owner_id,))
    for (at,) in await cur.fetchall():
        await _mark(conn, owner_id, None, at)


async def day_scores(conn: psycopg.AsyncConnection, vid: int, vin: str, tz: ZoneInfo,
                     lo: date, hi: date, rules: ActivityRules) -> dict[date, float]:
    """The engagement score of each local day in [lo, hi] for one vehicle."""
    cur = await conn.execute("SELECT owner_id, from_day, to_day FROM ownership_periods"
                             " WHERE vehicle_id = %s", (vid,))
    periods = await cur.fetchall()
    cur = await conn.execute(
        "SELECT at, type, owner_id, vin FROM owner_engagement WHERE at >= %s AND at < %s"
        " AND (vin = %s OR (vin IS NULL AND owner_id = ANY(%s)))",
        (datetime.combine(lo - timedelta(days=1), datetime.min.time(), UTC),
         datetime.combine(hi + timedelta(days=2), datetime.min.time(), UTC), vin,
         sorted({p[0] for p in periods})))
    out: dict[date, float] = {}
    for at, kind, owner, named in await cur.fetchall():
        day = local_day(int(at.timestamp() * 1000), tz)
        if not lo <= day <= hi:
            continue
        if named is None and not any(p[0] == owner and p[1] <= day and (p[2] is None or
                                                                        day < p[2])
                                     for p in periods):
            continue
        out[day] = out.get(day, 0.0) + rules.weight(kind)
    return out
