"""What the derivations should produce, computed from the simulator's ground truth."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from features.segments import activity_history, activity_rules


def expected_segment_changes(truth: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(vin, day, from, to) for every settled day whose activity differs from the day before."""
    out: set[tuple[str, str, str, str]] = set()
    for vin, v in truth["vehicles"].items():
        daily = {date.fromisoformat(d): (t["km"], len(t["trips"])) for d, t in v["days"].items()}
        first, last = min(daily), max(daily)
        settled = last - timedelta(days=1)
        if settled < first:
            continue
        hist = activity_history(daily, first, first, settled, activity_rules())
        prev = None
        for day, label in sorted(hist.items()):
            if prev is not None and label != prev:
                out.add((vin, day.isoformat(), prev, label))
            prev = label
    return out


def expected_service_events(truth: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    """(vin, event type, cycle, day, items) of every announcement on a settled day, from the
    simulator's own schedule (items crossing the same threshold on one day: one event)."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for vin, v in truth["vehicles"].items():
        settled = (date.fromisoformat(max(v["days"])) - timedelta(days=1)).isoformat()
        for r in v["service"]["reminders"]:
            if r["day"] <= settled:
                key = (vin, f"service_{r['threshold']}", r["cycle"], r["day"])
                groups.setdefault(key, []).append(r["item"])
    return {(*k, "+".join(sorted(items))) for k, items in groups.items()}
