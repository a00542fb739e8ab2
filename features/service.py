"""Service-due engine: maintenance rules per model, the service book, due/overdue status.

An item is due at a distance, engine hours and/or a date, counted from the last service
record that lists it (or from delivery with its first interval). **Due soon** when the
distance left is at most ``soft.km``, the hours left at most ``soft.hours`` or the days left
at most ``soft.days``; **overdue** at or past the distance, the hours or the date. Whichever
comes first decides. A vehicle without any service
record has ``history: unknown``: its items are computed from delivery and marked assumed.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

from features.prediction import Prediction

Status = Literal["ok", "due_soon", "overdue"]
Threshold = Literal["due_soon", "overdue"]
History = Literal["known", "unknown"]
RANK: dict[Status, int] = {"ok": 0, "due_soon": 1, "overdue": 2}


@dataclass(frozen=True, slots=True)
class ItemRule:
    """One maintenance item's interval; ``first_*`` applies before it was ever done."""

    name: str
    km: float | None = None
    months: int | None = None
    first_km: float | None = None
    first_months: int | None = None
    powertrains: tuple[str, ...] = ()
    hours: float | None = None  # engine hours


@dataclass(frozen=True, slots=True)
class Rules:
    """All models' items and the soft threshold."""

    soft_km: float
    soft_days: int
    default: tuple[ItemRule, ...]
    models: dict[str, tuple[ItemRule, ...]]
    soft_hours: float = 25.0

    def items_for(self, model: str | None, powertrain: str | None) -> list[ItemRule]:
        """Items that apply to a model and powertrain."""
        items = self.models.get(model or "", self.default)
        return [i for i in items if not i.powertrains or (powertrain or "") in i.powertrains]


def _items(raw: list[dict[str, Any]]) -> tuple[ItemRule, ...]:
    return tuple(ItemRule(r["name"], r.get("km"), r.get("months"), r.get("first_km"),
                          r.get("first_months"), tuple(r.get("powertrains", ())),
                          r.get("hours")) for r in raw)


@cache
def load_rules() -> Rules:
    """features/data/maintenance.json"""
    raw = json.loads((resources.files("features") / "data" / "maintenance.json").read_text())
    return Rules(raw["soft"]["km"], raw["soft"]["days"], _items(raw["default"]["items"]),
                 {m: _items(v["items"]) for m, v in raw["models"].items()},
                 raw["soft"].get("hours", 25.0))


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """An entry of the service book."""

    id: int
    done_on: date
    odometer_km: float
    items: tuple[str, ...]
    engine_hours: float | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where one item falls due in a cycle."""

    name: str
    due_km: float | None
    due_date: date | None
    assumed: bool  # no service history: counted from delivery
    due_hours: float | None = None

    def status(self, odometer_km: float, day: date, rules: Rules,
               engine_hours: float | None = None) -> tuple[Status, str | None]:
        """The item's status on ``day`` at ``odometer_km`` (and ``engine_hours``) and what
        decided it (``distance``, ``engine_hours`` or ``time``, in that order on a tie)."""
        levels: tuple[tuple[Status, float, float, int], ...] = (
            ("overdue", 0.0, 0.0, 0),
            ("due_soon", rules.soft_km, rules.soft_hours, rules.soft_days))
        for level, km_left, hours_left, days_left in levels:
            if self.due_km is not None and odometer_km >= self.due_km - km_left:
                return level, "distance"
            if self.due_hours is not None and engine_hours is not None \
                    and engine_hours >= self.due_hours - hours_left:
                return level, "engine_hours"
            if self.due_date is not None and (self.due_date - day).days <= days_left:
                return level, "time"
        return "ok", None


def add_months(d: date, months: int) -> date:
    """Same day ``months`` later (clamped to the month's last day)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def sort_book(records: list[ServiceRecord]) -> list[ServiceRecord]:
    """The service book in the order records happened."""
    return sorted(records, key=lambda r: (r.done_on, r.odometer_km, r.id))


def book_as_of(book: list[ServiceRecord], day: date) -> list[ServiceRecord]:
    """The records done on or before ``day`` (``book`` sorted)."""
    return [r for r in book if r.done_on <= day]


def cycle_name(book_then: list[ServiceRecord]) -> str:
    """A service cycle is named by the date of the record that started it (or
    ``delivery``): a name the dealer system, the simulator and the gateway share."""
    return book_then[-1].done_on.isoformat() if book_then else "delivery"


def targets(rules: Rules, model: str | None, powertrain: str | None, delivered_on: date,
            book_then: list[ServiceRecord]) -> list[Target]:
    """Due distance and date of every item, given the records done so far."""
    out = []
    for rule in rules.items_for(model, powertrain):
        done = [r for r in book_then if rule.name in r.items]
        base_hours: float | None = 0.0
        if done:
            base_date, base_km, km, months = done[-1].done_on, done[-1].odometer_km, rule.km, \
                rule.months
            base_hours = done[-1].engine_hours
        else:
            base_date, base_km = delivered_on, 0.0
            km, months = rule.first_km or rule.km, rule.first_months or rule.months
        due_hours = base_hours + rule.hours if rule.hours and base_hours is not None else None
        out.append(Target(rule.name, base_km + km if km else None,
                          add_months(base_date, months) if months else None, not book_then,
                          due_hours))
    return out


@dataclass(slots=True)
class ItemStatus:
    """Where one item stands."""

    name: str
    due_km: float | None
    due_date: date | None
    remaining_km: float | None
    remaining_days: int | None
    status: Status
    reason: str | None
    assumed: bool
    prediction: Prediction | None = None
    due_hours: float | None = None
    remaining_hours: float | None = None


@dataclass(slots=True)
class ServiceStatus:
    """The vehicle's service position as of a day. ``next`` is the most urgent item of the
    worst status: its fields never contradict ``status``."""

    as_of: date
    odometer_km: float
    status: Status
    cycle: str
    history: History
    items: list[ItemStatus] = field(default_factory=list)

    @property
    def items_due(self) -> list[ItemStatus]:
        """Items due now or within the soft threshold."""
        return [i for i in self.items if i.status != "ok"]

    @property
    def next(self) -> ItemStatus | None:
        """The item of the worst status that falls (or fell) due first."""
        worst = [i for i in self.items if i.status == self.status]
        return min(worst, key=lambda i: (_when(i), i.name)) if worst else None


def _when(i: ItemStatus) -> date:
    dates = [d for d in (i.prediction.expected if i.prediction else None, i.due_date) if d]
    return min(dates) if dates else date.max


def evaluate(rules: Rules, model: str | None, powertrain: str | None, delivered_on: date,
             odometer_km: float, as_of: date, records: list[ServiceRecord],
             predict: Any = None, engine_hours: float | None = None) -> ServiceStatus:
    """Status of every item on ``as_of``; ``predict(remaining_km, due_date)`` gives each
    item's predicted due date (``features.prediction``)."""
    book = book_as_of(sort_book(records), as_of)
    out = ServiceStatus(as_of, odometer_km, "ok", cycle_name(book),
                        "known" if book else "unknown")
    for t in targets(rules, model, powertrain, delivered_on, book):
        status, reason = t.status(odometer_km, as_of, rules, engine_hours)
        rem_km = round(t.due_km - odometer_km, 1) if t.due_km is not None else None
        rem_days = (t.due_date - as_of).days if t.due_date is not None else None
        rem_hours = round(t.due_hours - engine_hours, 2) \
            if t.due_hours is not None and engine_hours is not None else None
        item = ItemStatus(t.name, t.due_km, t.due_date, rem_km, rem_days, status, reason,
                          t.assumed, due_hours=t.due_hours, remaining_hours=rem_hours)
        if predict is not None:
            item.prediction = predict(rem_km, t.due_date)
        out.items.append(item)
        if RANK[status] > RANK[out.status]:
            out.status = status
    return out


def item_json(i: ItemStatus) -> dict[str, Any]:
    """One item, JSON-ready."""
    p = i.prediction
    return {"name": i.name, "status": i.status, "reason": i.reason, "assumed": i.assumed,
            "due_km": i.due_km, "due_date": i.due_date.isoformat() if i.due_date else None,
            "remaining_km": i.remaining_km, "remaining_days": i.remaining_days,
            "due_hours": i.due_hours, "remaining_hours": i.remaining_hours,
            "predicted": p.to_json() if p else None}


def to_json(s: ServiceStatus) -> dict[str, Any]:
    """JSON-ready form; ``next`` describes one item (the most urgent of the worst status)."""
    nxt = s.next
    return {
        "as_of": s.as_of.isoformat(), "status": s.status, "history": s.history,
        "cycle": s.cycle, "odometer_km": round(s.odometer_km, 1),
        "next": item_json(nxt) if nxt else None,
        "items_due": [i.name for i in s.items_due],
        "items": [item_json(i) for i in s.items],
    }
