"""When will a car have driven N more km? From its own recent driving, weekday and weekend
apart, with a range.

Method: the rate is taken over the last ``window`` days of data (at most 56 days, from the
first day the vehicle reported, at least ``minimum`` days: with less, no distance prediction
is made). Days without data inside that span count as days without driving. The mean km of a
weekday and of a weekend day are walked forward day by day from the day after ``as_of`` until
the remaining distance is covered. The range walks the same way with both rates raised and
lowered by the spread of the weekly totals in the span (their coefficient of variation,
within 25 % .. 60 %), so a car that drives evenly gets a narrow range.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

WINDOW_DAYS, MINIMUM_DAYS, HORIZON_DAYS = 56, 7, 3 * 365
SPREAD_MIN, SPREAD_MAX = 0.25, 0.60


@dataclass(frozen=True, slots=True)
class Rate:
    """Mean km per weekday and per weekend day, over ``days`` days, and their spread."""

    weekday_km: float
    weekend_km: float
    days: int
    spread: float

    def on(self, day: date) -> float:
        """Expected km on ``day``."""
        return self.weekend_km if day.weekday() >= 5 else self.weekday_km


@dataclass(frozen=True, slots=True)
class Prediction:
    """Expected due date and its range; ``by`` says whether distance or the date decides."""

    expected: date
    earliest: date
    latest: date
    by: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"date": self.expected.isoformat(), "earliest": self.earliest.isoformat(),
                "latest": self.latest.isoformat(), "by": self.by}


def driving_rate(daily_km: dict[date, float], first_day: date, as_of: date,
                 window: int = WINDOW_DAYS, minimum: int = MINIMUM_DAYS) -> Rate | None:
    """The rate over the data available up to ``as_of``; None below ``minimum`` days."""
    start = max(first_day, as_of - timedelta(days=window - 1))
    n = (as_of - start).days + 1
    if n < minimum:
        return None
    days = [start + timedelta(days=i) for i in range(n)]
    wk = [daily_km.get(d, 0.0) for d in days if d.weekday() < 5]
    we = [daily_km.get(d, 0.0) for d in days if d.weekday() >= 5]
    weekday = sum(wk) / len(wk) if wk else 0.0
    weekend = sum(we) / len(we) if we else weekday
    weeks = [sum(daily_km.get(d, 0.0) for d in days[i:i + 7]) for i in range(0, n - 6, 7)]
    spread = SPREAD_MAX
    if len(weeks) >= 2 and statistics.fmean(weeks) > 0:
        spread = statistics.pstdev(weeks) / statistics.fmean(weeks)
    return Rate(weekday, weekend, n, min(max(spread, SPREAD_MIN), SPREAD_MAX))


def _walk(remaining_km: float, as_of: date, rate: Rate, factor: float) -> date | None:
    if remaining_km <= 0:
        return as_of
    week_km = (5 * rate.weekday_km + 2 * rate.weekend_km) * factor
    if week_km <= 0:
        return None
    weeks = min(max(0, int(remaining_km / week_km) - 1), HORIZON_DAYS // 7)  # surely short
    done, day = weeks * week_km, as_of + timedelta(days=7 * weeks)
    for _ in range(HORIZON_DAYS - 7 * weeks):
        day += timedelta(days=1)
        done += rate.on(day) * factor
        if done >= remaining_km:
            return day
    return None


def predict(remaining_km: float | None, due_date: date | None, as_of: date,
            rate: Rate | None) -> Prediction | None:
    """The day the item falls due: the earlier of the distance walk and the due date."""
    if remaining_km is not None and rate is not None:
        mid = _walk(remaining_km, as_of, rate, 1.0)
        lo = _walk(remaining_km, as_of, rate, 1.0 + rate.spread)
        hi = _walk(remaining_km, as_of, rate, 1.0 - rate.spread)
        if mid is not None and lo is not None:
            if due_date is not None and due_date <= mid:
                return Prediction(due_date, min(lo, due_date), due_date, "time")
            latest = min(d for d in (hi, due_date, as_of + timedelta(days=HORIZON_DAYS)) if d)
            return Prediction(mid, lo, latest, "distance")
    if due_date is not None:
        return Prediction(due_date, due_date, due_date, "time")
    return None
