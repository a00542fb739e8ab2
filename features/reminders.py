"""Which items of which service cycle crossed due-soon or overdue on which settled day.

A reminder is one vehicle's one service cycle (started by a service record, or by
delivery). Each item of the cycle is announced once per threshold, on the first settled local
day its status reaches that threshold: the day-end odometer (the highest reading of that
local day, carried over days without data) against its due distance, the day against its due
date. An item that reaches overdue on the day it reaches due soon is announced once, as
overdue. Items crossing the same threshold on the same day are announced together.

Everything here is a pure function of the service book, the daily odometers and the rules,
so replays, duplicates and late data that arrives before a day settles give the same
announcements as live ingestion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Any, Literal

from features.conditions import Tracker, load_conditions
from features.service import (
    RANK,
    Rules,
    ServiceRecord,
    Status,
    Target,
    Threshold,
    book_as_of,
    cycle_name,
    sort_book,
    targets,
)

Outcome = Literal["resolved", "expired"]


@dataclass(frozen=True, slots=True)
class Announcement:
    """One item crossing one threshold."""

    cycle: str
    item: str
    threshold: Threshold
    day: date
    odometer_km: float
    target: Target
    reason: str  # distance, engine_hours, time or condition
    reading: dict[str, Any] | None = None  # what made a condition item due
    engine_hours: float | None = None  # day-end engine hours, when the vehicle reports them


def announcements(rules: Rules, model: str | None, powertrain: str | None,
                  delivered_on: date, records: list[ServiceRecord],
                  odometer_by_day: dict[date, float], settled_to: date,
                  condition_days: dict[date, dict[str, Any]] | None = None,
                  hours_by_day: dict[date, float] | None = None) -> list[Announcement]:
    """Every crossing up to ``settled_to``, in day order; with ``condition_days`` (the
    per-day aggregates of ``features.conditions``) also the condition items."""
    if not odometer_by_day:
        return []
    tracker = Tracker(load_conditions())
    book = sort_book(records)
    out: list[Announcement] = []
    reached: dict[tuple[str, str], Status] = {}
    cached: dict[str, list[Target]] = {}
    day, odo, hours = min(odometer_by_day), 0.0, None
    while day <= settled_to:
        odo = max(odo, odometer_by_day.get(day, odo))
        hours = (hours_by_day or {}).get(day, hours)
        then = book_as_of(book, day)
        cycle = cycle_name(then)
        if cycle not in cached:
            cached[cycle] = targets(rules, model, powertrain, delivered_on, then)
        for t in cached[cycle]:
            status, reason = t.status(odo, day, rules, hours)
            if status != "ok" and RANK[status] > RANK[reached.get((cycle, t.name), "ok")]:
                reached[(cycle, t.name)] = status
                out.append(Announcement(cycle, t.name, status, day, odo, t, reason or "",
                                        engine_hours=hours))
        for cond, reading in tracker.day(cycle, (condition_days or {}).get(day, {})):
            if RANK[cond.status] > RANK[reached.get((cycle, cond.item), "ok")]:
                reached[(cycle, cond.item)] = cond.status
                out.append(Announcement(cycle, cond.item, cond.status, day, odo,
                                        Target(cond.item, None, None, False), "condition",
                                        reading))
        day += timedelta(days=1)
    return out


def grouped(items: Iterable[Announcement]
            ) -> list[tuple[tuple[str, Threshold, date], list[Announcement]]]:
    """New announcements grouped by (cycle, threshold, day): one event each."""
    def key(a: Announcement) -> tuple[str, Threshold, date]:
        return a.cycle, a.threshold, a.day
    ordered = sorted(items, key=lambda a: (a.day, RANK[a.threshold], a.cycle, a.item))
    return [(k, list(g)) for k, g in groupby(ordered, key=key)]


def outcome(book: list[ServiceRecord], cycle: str, items: set[str]
            ) -> tuple[Outcome, ServiceRecord] | None:
    """How a reminder of ``cycle`` ended: the record that started the next cycle either
    covers every announced item (resolved) or not (expired); None while the cycle runs."""
    later = [r for r in sort_book(book) if cycle == "delivery" or r.done_on.isoformat() > cycle]
    nxt = later[0] if later else None
    if nxt is None:
        return None
    return ("resolved" if items <= set(nxt.items) else "expired"), nxt


ClosedBy = Literal["service_record", "dealer_visit"]


@dataclass(frozen=True, slots=True)
class VisitDay:
    """A dealer visit, as far as a reminder cares."""

    id: int
    day: date


@dataclass(frozen=True, slots=True)
class Ending:
    """How and when a reminder ended."""

    state: Outcome
    day: date
    by: ClosedBy
    record_id: int | None
    visit_id: int | None


def ending(book: list[ServiceRecord], visits: Iterable[VisitDay], cycle: str, items: set[str],
           opened_day: date, settled_to: date) -> Ending | None:
    """A reminder is resolved by the record that ends its cycle when it covers every
    announced item, or by the first dealer visit on or after the day it opened (after the
    day the cycle began, which was the previous cycle's visit, and not after the record),
    whichever comes first (the record on a tie); it expires when the record
    ends the cycle without covering the items and no visit came first, decided only once the
    record's day has settled, so that a visit that day is known. None while it runs."""
    ended = outcome(book, cycle, items)
    record = ended[1] if ended else None
    began = date.min if cycle == "delivery" else date.fromisoformat(cycle)
    visit = min((x for x in visits if x.day >= opened_day and x.day > began
                 and (record is None or x.day <= record.done_on)),
                key=lambda x: (x.day, x.id), default=None)
    if ended and record and ended[0] == "resolved" and (visit is None
                                                        or record.done_on <= visit.day):
        same_day = visit.id if visit and visit.day == record.done_on else None
        return Ending("resolved", record.done_on, "service_record", record.id, same_day)
    if visit is not None:
        return Ending("resolved", visit.day, "dealer_visit", None, visit.id)
    if record is not None and record.done_on <= settled_to:
        return Ending("expired", record.done_on, "service_record", record.id, None)
    return None
