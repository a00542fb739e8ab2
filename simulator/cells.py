"""What the gateway must conclude about each vehicle's and owner's activity x maturity cell
on every day, worked out by the simulator from what it generated. The rules files
(features/data/activity.json, maturity.json) are read here on their own and applied day
by day, plainly: the gateway's implementation is not reused, so the tests compare two.

Days are ISO strings; ``engagement`` maps owner -> events as in the truth file.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from decoders.catalog import load_catalog
from simulator.service import DATA

ORDER = ("active", "declining", "lapsing", "dormant")
Events = dict[str, list[dict[str, Any]]]


@cache
def _rules() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    activity = json.loads((DATA / "activity.json").read_text())
    levels = json.loads((DATA / "maturity.json").read_text())["levels"]
    return activity, levels


def _day(d: date, n: int) -> str:
    return (d + timedelta(days=n)).isoformat()


def periods(v: dict[str, Any]) -> list[tuple[str, date, date | None]]:
    """(owner, first day, day after the last or None) of a vehicle, from the truth."""
    own = v["meta"]["ownership"]
    return [(p["owner_id"], date.fromisoformat(p["from"]),
             date.fromisoformat(own[n + 1]["from"]) if n + 1 < len(own) else None)
            for n, p in enumerate(own)]


def scores(truth: dict[str, Any], vin: str, engagement: Events,
           data_before: str = "9999") -> dict[str, float]:
    """Each local day's score: a trip, cockpit use (days before ``data_before``: the data
    received), engagement events naming the car or, without a VIN, of its owner that day."""
    weights = _rules()[0]["weights"]
    v = truth["vehicles"][vin]
    domain_of = load_catalog().event_domains
    out: dict[str, float] = {}
    for d, day in v["days"].items():
        if d < data_before:
            out[d] = (weights["drive"] if day["trips"] else 0.0) + (
                weights["cockpit"] if any(n and t in domain_of
                                          for t, n in day["events"].items()) else 0.0)
    tz = ZoneInfo(v["meta"]["timezone"])
    held = periods(v)
    for owner, events in engagement.items():
        for e in events:
            local = datetime.fromisoformat(e["at"].replace("Z", "+00:00")).astimezone(tz).date()
            if e["vin"] == vin or (e["vin"] is None and any(
                    o == owner and lo <= local and (hi is None or local < hi)
                    for o, lo, hi in held)):
                out[local.isoformat()] = out.get(local.isoformat(), 0.0) + weights[e["type"]]
    return out


def activity(truth: dict[str, Any], vin: str, end: date, engagement: Events,
             data_before: str = "9999") -> dict[str, str]:
    """The vehicle's activity on every day from its first day of data to ``end``."""
    r = _rules()[0]
    v = truth["vehicles"][vin]
    km = {d: t["km"] for d, t in v["days"].items() if d < data_before}
    if not km:
        return {}
    score = scores(truth, vin, engagement, data_before)
    first = date.fromisoformat(min(km))
    w = r["window"]
    out: dict[str, str] = {}
    last_engaged: date | None = None
    for d in sorted(k for k, s in score.items() if k < first.isoformat()
                    and s >= r["engaged_day"] - 1e-9):
        last_engaged = date.fromisoformat(d)
    day = first
    while day <= end:
        if score.get(day.isoformat(), 0.0) >= r["engaged_day"] - 1e-9:
            last_engaged = day
        since = (day - last_engaged).days if last_engaged else (day - first).days + 1
        recent = sum(km.get(_day(day, -i), 0.0) for i in range(w))
        previous = sum(km.get(_day(day, -w - i), 0.0) for i in range(w))
        if since < r["active_within"]:
            label = "declining" if previous > 0 and recent < r["decline_ratio"] * previous \
                else "active"
        elif since < r["lapsing_after"]:
            label = "declining"
        elif since <= r["dormant_after"]:
            label = "lapsing"
        else:
            label = "dormant"
        out[day.isoformat()] = label
        day += timedelta(days=1)
    return out


def maturity(since: date, day: date, km: float, domains: int) -> str:
    """The highest level of maturity.json whose thresholds are all met."""
    out = "novice"
    for level in _rules()[1]:
        if (day - since).days >= level["owned_days"] and km >= level["km"] \
                and domains >= level["domains"]:
            out = level["name"]
    return out


def odometer_as_of(v: dict[str, Any], day: date) -> float:
    """The odometer at the end of the last day driven up to ``day`` (else the latest)."""
    driven = [d for d in sorted(v["days"]) if d <= day.isoformat() and v["days"][d]["trips"]]
    return float(v["days"][driven[-1] if driven else max(v["days"])]["final_odometer_km"])


def domains_between(v: dict[str, Any], lo: date | None, hi: date) -> set[str]:
    """Cockpit domains used on the days in [lo, hi] (lo None: from the start)."""
    domain_of = load_catalog().event_domains
    return {domain_of[t] for d, day in v["days"].items()
            if (lo is None or d >= lo.isoformat()) and d <= hi.isoformat()
            for t, n in day["events"].items() if n and t in domain_of}


def vehicle_cells(truth: dict[str, Any], day: date, activities: dict[str, dict[str, str]]
                  ) -> dict[str, str]:
    """vin -> cell on ``day``: its activity, its maturity from delivery."""
    out = {}
    for vin, v in truth["vehicles"].items():
        a = activities[vin].get(day.isoformat())
        if a is not None:
            level = maturity(date.fromisoformat(v["meta"]["delivered_on"]), day,
                             odometer_as_of(v, day), len(domains_between(v, None, day)))
            out[vin] = f"{a}/{level}"
    return out


def owner_cells(truth: dict[str, Any], day: date, activities: dict[str, dict[str, str]]
                ) -> dict[str, str]:
    """owner -> cell on ``day``: the most active activity of the vehicles held that day;
    the maturity of the owner's lifetime over their periods (days since the first, km
    driven in them, cockpit domains used in them)."""
    best: dict[str, str] = {}
    since: dict[str, date] = {}
    km: dict[str, float] = {}
    used: dict[str, set[str]] = {}
    for vin, v in truth["vehicles"].items():
        delivered = date.fromisoformat(v["meta"]["delivered_on"])
        for owner, start, end in periods(v):
            if start > day:
                continue
            last = day if end is None else min(day, end - timedelta(days=1))
            first = start <= delivered
            since[owner] = min(since.get(owner, start), start)
            used.setdefault(owner, set())
            km.setdefault(owner, 0.0)
            if not v["days"]:  # never sent anything: no odometer, no domains
                continue
            begin = 0.0 if first else odometer_as_of(v, start - timedelta(days=1))
            km[owner] += max(0.0, odometer_as_of(v, last) - begin)
            used[owner].update(
                domains_between(v, None if first else start, last))
            a = activities[vin].get(day.isoformat())
            if (end is None or end > day) and a is not None and (
                    owner not in best or ORDER.index(a) < ORDER.index(best[owner])):
                best[owner] = a
    return {o: f"{a}/{maturity(since[o], day, km[o], len(used[o]))}" for o, a in best.items()}


def every_day(truth: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """Every vehicle's and owner's cell on every day up to the day before the run's last,
    all engagement counted (a silent car's days settled on the wall clock)."""
    with_days = [v for v in truth["vehicles"].values() if v["days"]]
    if not with_days:
        return {"vehicles": {}, "owners": {}}
    last = date.fromisoformat(max(max(v["days"]) for v in with_days))
    end = last - timedelta(days=1)
    acts = {vin: activity(truth, vin, end, truth.get("engagement", {}))
            for vin in truth["vehicles"]}
    out: dict[str, dict[str, dict[str, str]]] = {"vehicles": {}, "owners": {}}
    day = date.fromisoformat(min(min(v["days"]) for v in with_days))
    while day <= end:
        for kind, cells in (("vehicles", vehicle_cells(truth, day, acts)),
                            ("owners", owner_cells(truth, day, acts))):
            for key, cell in cells.items():
                out[kind].setdefault(key, {})[day.isoformat()] = cell
        day += timedelta(days=1)
    return out
