"""What the simulator's truth says each owner's cell is on a day: the most active activity
of the vehicles they hold that day, and their own lifetime maturity over their ownership
periods (days since their first period, km driven in their periods, cockpit domains used in
their periods), as docs/profiles.md defines them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from decoders.catalog import load_catalog
from features.segments import ACTIVITIES, activity_rules, maturity


def periods(v: dict[str, Any]) -> list[tuple[str, date, date | None]]:
    """(owner, first day, day after the last or None) of a vehicle, from the truth."""
    own = v["meta"]["ownership"]
    out = []
    for n, p in enumerate(own):
        end = date.fromisoformat(own[n + 1]["from"]) if n + 1 < len(own) else None
        out.append((p["owner_id"], date.fromisoformat(p["from"]), end))
    return out


def odometer_as_of(v: dict[str, Any], day: date) -> float:
    """The odometer at the end of the last day driven up to ``day`` (else the latest)."""
    driven = [d for d in sorted(v["days"]) if d <= day.isoformat() and v["days"][d]["trips"]]
    key = driven[-1] if driven else max(v["days"])
    return float(v["days"][key]["final_odometer_km"])


def domains_between(v: dict[str, Any], lo: date | None, hi: date) -> set[str]:
    """Cockpit domains used on the days in [lo, hi] (lo None: from the start)."""
    domain_of = load_catalog().event_domains
    return {domain_of[t] for d, day in v["days"].items()
            if (lo is None or d >= lo.isoformat()) and d <= hi.isoformat()
            for t, n in day["events"].items() if n and t in domain_of}


def owner_cells(truth: dict[str, Any], day: date, activity: dict[str, dict[str, str]]
                ) -> dict[str, str]:
    """owner id -> 'activity/maturity' on ``day``; ``activity``: each vehicle's activity per
    day (ISO) as the truth says. Owners without a settled vehicle held that day have none."""
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
            begin = 0.0 if first else odometer_as_of(v, start - timedelta(days=1))
            km[owner] = km.get(owner, 0.0) + max(0.0, odometer_as_of(v, last) - begin)
            used.setdefault(owner, set()).update(
                domains_between(v, None if first else start, last))
            a = activity.get(vin, {}).get(day.isoformat())
            if (end is None or end > day) and a is not None and (
                    owner not in best or ACTIVITIES.index(a) < ACTIVITIES.index(best[owner])):
                best[owner] = a
    return {o: f"{a}/{maturity(since[o], day, km[o], len(used[o]))}" for o, a in best.items()}


def extra_scores(truth: dict[str, Any], vin: str, engagement: dict[str, list[dict[str, Any]]],
                 data_before: str = "9999") -> dict[date, float]:
    """A vehicle's score beyond driving per local day, by the activity rules: cockpit use
    (on days before ``data_before``, the data received), and the engagement events naming
    it or, without a VIN, of its owner of that day (``engagement``: owner -> events)."""
    rules = activity_rules()
    v = truth["vehicles"][vin]
    domain_of = load_catalog().event_domains
    out: dict[date, float] = {}
    for d, day in v["days"].items():
        if d < data_before and any(n and t in domain_of for t, n in day["events"].items()):
            out[date.fromisoformat(d)] = rules.weight("cockpit")
    tz = ZoneInfo(v["meta"]["timezone"])
    held = periods(v)
    for owner, events in engagement.items():
        for e in events:
            day = datetime.fromisoformat(e["at"].replace("Z", "+00:00")).astimezone(tz).date()
            if e["vin"] == vin or (e["vin"] is None and any(
                    o == owner and lo <= day and (hi is None or day < hi) for o, lo, hi in held)):
                out[day] = out.get(day, 0.0) + rules.weight(e["type"])
    return out
