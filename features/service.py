"""Service-due engine: maintenance rules per model, the service book, due/overdue status."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal

Status = Literal["ok", "due_soon", "overdue"]
_RANK: dict[Status, int] = {"ok": 0, "due_soon": 1, "overdue": 2}


@dataclass(frozen=True, slots=True)
class ItemRule:
    """One maintenance item's interval; ``first_*`` applies before it was ever done."""

    name: str
    km: float | None = None
    months: int | None = None
    first_km: float | None = None
    first_months: int | None = None
    powertrains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rules:
    """All models' items and the soft threshold."""

    soft_km: float
    soft_days: int
    default: tuple[ItemRule, ...]
    models: dict[str, tuple[ItemRule, ...]]

    def items_for(self, model: str | None, powertrain: str | None) -> list[ItemRule]:
        """Items that apply to a model and powertrain."""
        items = self.models.get(model or "", self.default)
        return [i for i in items if not i.powertrains or (powertrain or "") in i.powertrains]


def _items(raw: list[dict[str, Any]]) -> tuple[ItemRule, ...]:
    return tuple(ItemRule(r["name"], r.get("km"), r.get("months"), r.get("first_km"),
                          r.get("first_months"), tuple(r.get("powertrains", ()))) for r in raw)


@cache
def load_rules() -> Rules:
    """features/data/maintenance.json"""
    raw = json.loads((resources.files("features") / "data" / "maintenance.json").read_text())
    return Rules(raw["soft"]["km"], raw["soft"]["days"], _items(raw["default"]["items"]),
                 {m: _items(v["items"]) for m, v in raw["models"].items()})


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """An entry of the service book."""

    id: int
    done_on: date
    odometer_km: float
    items: tuple[str, ...]


@dataclass(slots=True)
class ItemStatus:
    """Where one item stands."""

    name: str
    due_km: float | None
    due_date: date | None
    remaining_km: float | None
    remaining_days: int | None
    status: Status


@dataclass(slots=True)
class ServiceStatus:
    """The vehicle's service position as of a day."""

    as_of: date
    odometer_km: float
    status: Status
    cycle: str
    items: list[ItemStatus] = field(default_factory=list)
    due_km: float | None = None
    due_date: date | None = None
    remaining_km: float | None = None
    predicted_date: date | None = None

    @property
    def items_due(self) -> list[ItemStatus]:
        """Items due now or within the soft threshold."""
        return [i for i in self.items if i.status != "ok"]


def add_months(d: date, months: int) -> date:
    """Same day ``months`` later (clamped to the month's last day)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def evaluate(rules: Rules, model: str | None, powertrain: str | None, delivered_on: date,
             odometer_km: float, as_of: date, records: list[ServiceRecord],
             km_per_day: float) -> ServiceStatus:
    """Status of every item; whichever of distance or time comes first decides."""
    book = sorted(records, key=lambda r: (r.done_on, r.odometer_km, r.id))
    out = ServiceStatus(as_of, odometer_km, "ok", str(book[-1].id) if book else "delivery")
    for rule in rules.items_for(model, powertrain):
        done = [r for r in book if rule.name in r.items]
        if done:
            base_date, base_km, km, months = done[-1].done_on, done[-1].odometer_km, rule.km, \
                rule.months
        else:
            base_date, base_km = delivered_on, 0.0
            km, months = rule.first_km or rule.km, rule.first_months or rule.months
        due_km = base_km + km if km else None
        due_date = add_months(base_date, months) if months else None
        rem_km = round(due_km - odometer_km, 1) if due_km is not None else None
        rem_days = (due_date - as_of).days if due_date is not None else None
        status: Status = "ok"
        if (rem_km is not None and rem_km <= 0) or (rem_days is not None and rem_days <= 0):
            status = "overdue"
        elif (rem_km is not None and rem_km <= rules.soft_km) or \
                (rem_days is not None and rem_days <= rules.soft_days):
            status = "due_soon"
        out.items.append(ItemStatus(rule.name, due_km, due_date, rem_km, rem_days, status))
        if _RANK[status] > _RANK[out.status]:
            out.status = status
    kms = [i.due_km for i in out.items if i.due_km is not None]
    dates = [i.due_date for i in out.items if i.due_date is not None]
    out.due_km = min(kms) if kms else None
    out.due_date = min(dates) if dates else None
    out.remaining_km = round(out.due_km - odometer_km, 1) if out.due_km is not None else None
    candidates = list(dates)
    if out.remaining_km is not None and km_per_day > 0:
        candidates.append(as_of + timedelta(days=max(0.0, out.remaining_km) / km_per_day))
    out.predicted_date = min(candidates) if candidates else None
    return out


def to_json(s: ServiceStatus) -> dict[str, Any]:
    """JSON-ready form."""
    return {
        "as_of": s.as_of.isoformat(), "status": s.status, "odometer_km": round(s.odometer_km, 1),
        "due_km": s.due_km, "due_date": s.due_date.isoformat() if s.due_date else None,
        "remaining_km": s.remaining_km,
        "predicted_date": s.predicted_date.isoformat() if s.predicted_date else None,
        "items": [{"name": i.name, "status": i.status, "due_km": i.due_km,
                   "due_date": i.due_date.isoformat() if i.due_date else None,
                   "remaining_km": i.remaining_km, "remaining_days": i.remaining_days}
                  for i in s.items],
    }
