"""Activity (active / declining / lapsing / dormant) per settled day, and lifetime maturity."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np

Activity = Literal["active", "declining", "lapsing", "dormant"]
ACTIVITIES: tuple[Activity, ...] = Activity.__args__  # type: ignore[attr-defined]
CHURN_WARNING = ("lapsing", "dormant")
ENGAGEMENT_TYPES = ("app_opened", "remote_command", "campaign_clicked", "booking_made")


@dataclass(frozen=True, slots=True)
class ActivityRules:
    """Thresholds in days and the weights of an engaged day (features/data/activity.json,
    explained in docs/profiles.md)."""

    active_within: int
    decline_ratio: float
    window: int
    lapsing_after: int
    dormant_after: int
    engaged_day: float
    weights: tuple[tuple[str, float], ...]

    def weight(self, kind: str) -> float:
        """The weight of ``drive``, ``cockpit`` or an engagement event type."""
        return dict(self.weights)[kind]


@cache
def activity_rules() -> ActivityRules:
    """The rules file, checked: every weight named, thresholds in order."""
    raw = json.loads((resources.files("features") / "data" / "activity.json").read_text())
    weights = raw["weights"]
    missing = [k for k in ("drive", "cockpit", *ENGAGEMENT_TYPES) if k not in weights]
    if missing:
        raise ValueError(f"activity.json: no weight for {', '.join(missing)}")
    rules = ActivityRules(int(raw["active_within"]), float(raw["decline_ratio"]),
                          int(raw["window"]), int(raw["lapsing_after"]),
                          int(raw["dormant_after"]), float(raw["engaged_day"]),
                          tuple((k, float(w)) for k, w in sorted(weights.items())))
    if not 0 < rules.active_within <= rules.lapsing_after <= rules.dormant_after:
        raise ValueError("activity.json: active_within <= lapsing_after <= dormant_after")
    return rules


def activity_history(daily: dict[date, tuple[float, int]], first_day: date, start: date,
                     end: date, rules: ActivityRules,
                     extra: dict[date, float] | None = None) -> dict[date, str]:
    """Activity for every day in [start, end]; ``daily`` maps day -> (km, trips) and must
    cover [start - 2 windows, end] where data exists; ``extra`` maps day -> the score of
    that day beyond driving (cockpit use, engagement events). Days before ``first_day`` (the
    vehicle's first day of data) count as unknown, not as days without engagement."""
    origin = min(start, first_day) - timedelta(days=2 * rules.window)
    n = (end - origin).days + 1
    km = np.zeros(n)
    score = np.zeros(n)
    drive = rules.weight("drive")
    for day, (k, trips) in daily.items():
        i = (day - origin).days
        if 0 <= i < n:
            km[i] = k
            score[i] += drive if trips > 0 else 0.0
    for day, s in (extra or {}).items():
        i = (day - origin).days
        if 0 <= i < n:
            score[i] += s
    engaged = score >= rules.engaged_day - 1e-9
    cs = np.concatenate([[0.0], np.cumsum(km)])
    idx = np.arange(n)
    last_engaged = np.maximum.accumulate(np.where(engaged, idx, -1))
    first_idx = (first_day - origin).days
    out: dict[date, str] = {}
    w = rules.window
    for i in range((start - origin).days, n):
        since = i - last_engaged[i] if last_engaged[i] >= 0 else i - first_idx + 1
        recent = cs[i + 1] - cs[max(0, i + 1 - w)]
        previous = cs[max(0, i + 1 - w)] - cs[max(0, i + 1 - 2 * w)]
        if since < rules.active_within:
            shrinking = previous > 0 and recent < rules.decline_ratio * previous
            label = "declining" if shrinking else "active"
        elif since < rules.lapsing_after:
            label = "declining"
        elif since <= rules.dormant_after:
            label = "lapsing"
        else:
            label = "dormant"
        out[origin + timedelta(days=i)] = label
    return out


@dataclass(frozen=True, slots=True)
class MaturityLevel:
    """A level and the lifetime thresholds that reach it (features/data/maturity.json)."""

    name: str
    owned_days: int
    km: float
    domains: int


@cache
def maturity_levels() -> tuple[MaturityLevel, ...]:
    """The levels above novice, lowest first."""
    raw = json.loads((resources.files("features") / "data" / "maturity.json").read_text())
    levels = tuple(MaturityLevel(e["name"], int(e["owned_days"]), float(e["km"]),
                                 int(e["domains"])) for e in raw["levels"])
    if [lv.name for lv in levels] != ["regular", "expert"]:
        raise ValueError("maturity.json: the levels are regular, then expert")
    return levels


def maturity(delivered_on: date | None, as_of: date, km: float | None, domains: int) -> str:
    """novice, regular or expert from the lifetime so far: days owned, the odometer and the
    cockpit domains ever used; ``unknown`` for unregistered vehicles."""
    if delivered_on is None:
        return "unknown"
    owned = (as_of - delivered_on).days
    out = "novice"
    for level in maturity_levels():
        if owned >= level.owned_days and (km or 0.0) >= level.km and domains >= level.domains:
            out = level.name
    return out
