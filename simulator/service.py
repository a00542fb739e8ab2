"""The simulated car's own maintenance schedule, its owner's visits to the dealer, and the
reminders the gateway must raise, written into the truth.

This is the simulator's own reading of the maintenance rules file (the same rules the
gateway is configured with), kept independent of the gateway's code so that the two can be
compared: each item restarts from the last visit that serviced it (or from delivery with its
first interval); due soon within the soft distance or days, overdue at the due distance or
date; announced once per cycle and threshold on the first day-end that reaches it.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "features" / "data"
RULES_FILE, CONDITIONS_FILE = DATA / "maintenance.json", DATA / "conditions.json"
LEVEL = {"ok": 0, "due_soon": 1, "overdue": 2}


def _month_later(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, d.day if d.day <= last else last)


def model_items(model: str, powertrain: str) -> list[dict[str, Any]]:
    """The model's maintenance items for its powertrain."""
    raw = json.loads(RULES_FILE.read_text())
    items = raw["models"].get(model, raw["default"])["items"]
    return [i for i in items if powertrain in i.get("powertrains", [powertrain])]


def soft_limits() -> tuple[float, float, int]:
    """(km, engine hours, days) of the due-soon threshold."""
    soft = json.loads(RULES_FILE.read_text())["soft"]
    return float(soft["km"]), float(soft["hours"]), int(soft["days"])


@dataclass(slots=True)
class Visit:
    """A service done at the dealer."""

    done_on: date
    odometer_km: float
    items: tuple[str, ...]
    engine_hours: float | None = None


@dataclass(slots=True)
class Schedule:
    """One car's maintenance state as it lives through the simulation."""

    model: str
    powertrain: str
    delivered_on: date
    book: list[Visit]
    responds: bool          # books a visit after a reminder
    partial: bool           # ... but services only the first item announced, at a garage
    visit_only: bool        # ... or drives to the dealer and no service record follows
    rng: np.random.Generator
    reminders: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    visits: list[dict[str, Any]] = field(default_factory=list)  # stays that count as visits
    not_visits: list[dict[str, Any]] = field(default_factory=list)  # stays that do not
    _reached: dict[tuple[str, str], str] = field(default_factory=dict)
    _visit_on: date | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    soft_km: float = 0.0
    soft_hours: float = 0.0
    soft_days: int = 0
    _inspection: tuple[int, float | None] = (-1, None)  # (book length, due km) cached
    conditions: list[dict[str, Any]] = field(default_factory=list)
    _starts: dict[str, list[float]] = field(default_factory=dict)
    _starts_cycle: str = ""
    _active: list[str] = field(default_factory=list)  # condition items holding last evening
    _hours: float | None = None  # engine hours reported by last evening

    def __post_init__(self) -> None:
        self.items = model_items(self.model, self.powertrain)
        self.soft_km, self.soft_hours, self.soft_days = soft_limits()
        self.conditions = json.loads(CONDITIONS_FILE.read_text())["conditions"]

    def cycle(self) -> str:
        """The current cycle's name: the last visit's date, or delivery."""
        return self.book[-1].done_on.isoformat() if self.book else "delivery"

    def due(self, item: dict[str, Any]) -> tuple[float | None, date | None]:
        """Due distance and date of one item now."""
        last = next((v for v in reversed(self.book) if item["name"] in v.items), None)
        if last is None:
            km, months = item.get("first_km") or item.get("km"), \
                item.get("first_months") or item.get("months")
            return (float(km) if km else None,
                    _month_later(self.delivered_on, months) if months else None)
        return (last.odometer_km + item["km"] if item.get("km") else None,
                _month_later(last.done_on, item["months"]) if item.get("months") else None)

    def due_hours(self, item: dict[str, Any]) -> float | None:
        """Engine hours at which the item is due (None: no hours rule, or the visit that
        last serviced it did not note the hours)."""
        if not item.get("hours"):
            return None
        last = next((v for v in reversed(self.book) if item["name"] in v.items), None)
        if last is None:
            return float(item["hours"])
        return last.engine_hours + item["hours"] if last.engine_hours is not None else None

    def distance_to_service(self, odometer_km: float) -> float | None:
        """What the car shows: km left to its next inspection."""
        if self._inspection[0] != len(self.book):
            insp = next((i for i in self.items if i["name"] == "inspection"), None)
            self._inspection = (len(self.book), self.due(insp)[0] if insp else None)
        km = self._inspection[1]
        return round(km - odometer_km, 1) if km is not None else None

    def _level(self, item: dict[str, Any], odometer_km: float, day: date,
               hours: float | None) -> tuple[str, str]:
        """(level, what decided it): distance first, then engine hours, then the date."""
        km, when = self.due(item)
        due_h = self.due_hours(item) if hours is not None else None
        for level, soft_km, soft_h, soft_days in (("overdue", 0.0, 0.0, 0),
                                                  ("due_soon", self.soft_km, self.soft_hours,
                                                   self.soft_days)):
            if km is not None and odometer_km >= km - soft_km:
                return level, "distance"
            if due_h is not None and hours is not None and hours >= due_h - soft_h:
                return level, "engine_hours"
            if when is not None and day >= when - timedelta(days=soft_days):
                return level, "time"
        return "ok", ""

    def morning(self, day: date, odometer_km: float, engine_hours: float | None,
                present: bool) -> tuple[Visit | None, bool]:
        """A planned visit happens before the day's driving: ``(the service record, whether
        the car drives to the dealer)``. The record lists every item due and every condition
        item that held last evening (only the first one for some owners, who go to a garage
        the gateway cannot see); some owners only drive to the dealer and no record follows.
        An owner who does not drive that day (``present`` false) does not come."""
        if self._visit_on != day:
            return None, False
        self._visit_on = None
        if not present:
            return None, False
        if self.visit_only:
            return None, True
        due = [i["name"] for i in self.items
               if self._level(i, odometer_km, day, self._hours)[0] != "ok"]
        due += [c for c in self._active if c not in due]
        if not due:
            return None, False
        ended = self.cycle()
        visit = Visit(day, round(odometer_km, 1), tuple(due[:1] if self.partial else due),
                      engine_hours)
        self.book.append(visit)
        announced = {r["item"] for r in self.reminders if r["cycle"] == ended}
        if announced:
            covered = announced <= set(visit.items)
            self.outcomes[ended] = {"outcome": "resolved" if covered else "expired",
                                    "day": day.isoformat(), "by": "service_record"}
        return visit, not self.partial

    def visited(self, day: date) -> None:
        """The car stayed at a dealer long enough, in opening hours, to count as a visit:
        the reminder of a cycle that began before today resolves, unless a record already
        resolved it (a cycle a record ended today without its items resolves too)."""
        for cycle, end in self.outcomes.items():
            if end["day"] == day.isoformat() and end["outcome"] == "expired":
                self.outcomes[cycle] = {"outcome": "resolved", "day": day.isoformat(),
                                        "by": "dealer_visit"}
        cycle = self.cycle()
        opened = any(r["cycle"] == cycle for r in self.reminders)
        if opened and cycle not in self.outcomes and (
                cycle == "delivery" or date.fromisoformat(cycle) < day):
            self.outcomes[cycle] = {"outcome": "resolved", "day": day.isoformat(),
                                    "by": "dealer_visit"}

    def _held(self, cycle: str, starts_today: list[dict[str, Any]]
              ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The condition rules that hold today, with the reading that shows it."""
        if cycle != self._starts_cycle:
            self._starts_cycle, self._starts = cycle, {}
        held = []
        for cond in self.conditions:
            for signal in cond["signals"]:
                values = [r[signal] for r in starts_today if r.get(signal) is not None]
                reading: dict[str, Any] | None = None
                if cond["pattern"] == "starts_below":
                    seq = self._starts.setdefault(signal, [])
                    seq.extend(values)
                    last = seq[-cond["count"]:]
                    if len(last) == cond["count"] and max(last) < cond["value"]:
                        reading = {"signal": signal, "value": last[-1], "starts": last}
                elif values and cond["pattern"] == "below" and min(values) < cond["value"]:
                    reading = {"signal": signal, "value": min(values)}
                elif values and cond["pattern"] == "at_or_above" \
                        and max(values) >= cond["value"]:
                    reading = {"signal": signal, "value": max(values)}
                elif values and cond["pattern"] == "in":
                    hits = sorted(set(values) & set(cond["values"]))
                    reading = {"signal": signal, "value": hits[0]} if hits else None
                elif values and cond["pattern"] == "code_prefix":
                    hits = sorted({c for codes in values for c in codes
                                   if any(c.startswith(p) for p in cond["values"])})
                    reading = {"signal": signal, "value": hits[0]} if hits else None
                if reading is not None:
                    held.append((cond, {"condition": cond["name"], **reading}))
                    break
        return held

    def evening(self, day: date, odometer_km: float, last_day: date,
                starts_today: list[dict[str, Any]], engine_hours: float | None) -> None:
        """Day-end: announce every threshold reached and every condition item that holds;
        a responsive owner plans a visit. ``engine_hours``: the last reported, if any."""
        self._hours = engine_hours
        cycle = self.cycle()
        opened = any(r["cycle"] == cycle for r in self.reminders)
        for item in self.items:
            level, reason = self._level(item, odometer_km, day, engine_hours)
            key = (cycle, item["name"])
            if LEVEL[level] > LEVEL[self._reached.get(key, "ok")]:
                self._reached[key] = level
                km, when = self.due(item)
                self.reminders.append({
                    "cycle": cycle, "item": item["name"], "threshold": level,
                    "day": day.isoformat(), "assumed": not self.book, "reason": reason,
                    "due_km": km, "due_date": when.isoformat() if when else None})
        held = self._held(cycle, starts_today)
        self._active = [c["item"] for c, _ in held]
        for cond, reading in held:
            key = (cycle, cond["item"])
            if LEVEL[cond["status"]] > LEVEL[self._reached.get(key, "ok")]:
                self._reached[key] = cond["status"]
                self.reminders.append({
                    "cycle": cycle, "item": cond["item"], "threshold": cond["status"],
                    "day": day.isoformat(), "assumed": False, "reason": "condition",
                    "due_km": None, "due_date": None, "reading": reading})
        if not opened and self.responds and self._visit_on is None and \
                any(r["cycle"] == cycle for r in self.reminders):
            planned = day + timedelta(days=int(self.rng.integers(3, 26)))
            if planned.weekday() == 6:  # the dealer is closed on Sundays
                planned += timedelta(days=1)
            if planned < last_day:  # the visit's day settles within the run
                self._visit_on = planned

    def truth(self) -> dict[str, Any]:
        """What the gateway must conclude."""
        return {"responds": self.responds, "partial": self.partial,
                "visit_only": self.visit_only, "reminders": self.reminders,
                "outcomes": self.outcomes, "visits": self.visits,
                "not_visits": self.not_visits}
