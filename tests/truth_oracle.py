"""What the derivations should produce, computed from the simulator's ground truth."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from features.segments import ActivityRules, activity_history
from features.service import ServiceRecord, evaluate, load_rules


def expected_segment_changes(truth: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(vin, day, from, to) for every settled day whose activity differs from the day before."""
    out: set[tuple[str, str, str, str]] = set()
    for vin, v in truth["vehicles"].items():
        daily = {date.fromisoformat(d): (t["km"], len(t["trips"])) for d, t in v["days"].items()}
        first, last = min(daily), max(daily)
        settled = last - timedelta(days=1)
        if settled < first:
            continue
        hist = activity_history(daily, first, first, settled, ActivityRules())
        prev = None
        for day, label in sorted(hist.items()):
            if prev is not None and label != prev:
                out.add((vin, day.isoformat(), prev, label))
            prev = label
    return out


def expected_service_events(truth: dict[str, Any]) -> set[tuple[str, str]]:
    """(vin, event type) expected once each, from the final odometer and the service book."""
    out: set[tuple[str, str]] = set()
    for vin, v in truth["vehicles"].items():
        meta = v["meta"]
        last = max(v["days"])
        book = [ServiceRecord(i, date.fromisoformat(r["done_on"]), r["odometer_km"],
                              tuple(r["items"])) for i, r in enumerate(meta["service_book"])]
        s = evaluate(load_rules(), meta["model"], meta["powertrain"],
                     date.fromisoformat(meta["delivered_on"]),
                     v["days"][last]["final_odometer_km"], date.fromisoformat(last), book, 0.0)
        if s.status != "ok":
            out.add((vin, "service_due_soon"))
        if s.status == "overdue":
            out.add((vin, "service_overdue"))
    return out
