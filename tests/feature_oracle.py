"""What the simulator's truth says each cockpit feature figure must be: written from the
truth's days (the features each owner used, as the simulator names them) without the
gateway's catalog or queries, so the tests compare two independent readings."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

OBSERVED_WITHIN = 14  # days after delivery by which data must start to see discovery


@dataclass(frozen=True, slots=True)
class Car:
    """One vehicle's truth, indexed by day."""

    vin: str
    model: str
    dealer: str
    delivered: date
    uses: dict[str, dict[date, tuple[int, int]]]  # feature -> day -> (uses, seconds)
    drive_s: dict[date, int]
    data_from: date
    versions: dict[str, list[tuple[str, date]]]  # component -> (version, first local day)

    def version_on(self, component: str, day: date) -> str:
        """The version of the day: that of the last report up to its end, else unknown."""
        out = "unknown"
        for version, first in self.versions.get(component, []):
            if first <= day:
                out = version
        return out

    @staticmethod
    def of(vin: str, v: dict[str, Any]) -> Car:
        """From the truth file's vehicle entry."""
        uses: dict[str, dict[date, tuple[int, int]]] = {}
        drive: dict[date, int] = {}
        for key, t in v["days"].items():
            day = date.fromisoformat(key)
            drive[day] = int(t["drive_seconds"])
            for feature, (n, seconds) in t["features"].items():
                uses.setdefault(feature, {})[day] = (int(n), int(seconds))
        meta = v["meta"]
        tz = ZoneInfo(meta["timezone"])
        versions = {c: [(e["version"], datetime.fromtimestamp(e["first_ms"] / 1000, tz).date())
                        for e in entries] for c, entries in meta.get("software", {}).items()}
        return Car(vin, meta["model"], meta["dealer_id"],
                   date.fromisoformat(meta["delivered_on"]), uses, drive, min(drive), versions)

    @property
    def observed(self) -> bool:
        """Its data starts soon enough after delivery to see when features were found."""
        return self.data_from <= self.delivered + timedelta(days=OBSERVED_WITHIN)

    def used_in(self, feature: str, lo: date, hi: date) -> tuple[int, int]:
        """(uses, seconds) on the days in [lo, hi]."""
        days = [u for d, u in self.uses.get(feature, {}).items() if lo <= d <= hi]
        return sum(u[0] for u in days), sum(u[1] for u in days)

    def drove(self, lo: date, hi: date) -> int:
        """Seconds of driving on the days in [lo, hi]."""
        return sum(s for d, s in self.drive_s.items() if lo <= d <= hi)


def vehicle(car: Car, as_of: date) -> dict[str, dict[str, Any]]:
    """feature -> first and last day, discovery, windows, weeks used of the last 4."""
    out = {}
    for feature, per in car.uses.items():
        days = sorted(d for d in per if d <= as_of)
        if not days:
            continue
        windows = {}
        for w in (7, 30, 90):
            lo = as_of - timedelta(days=w - 1)
            n, seconds = car.used_in(feature, lo, as_of)
            windows[str(w)] = {"uses": n, "minutes": round(seconds / 60, 2),
                               "drive_s": car.drove(lo, as_of)}
        weeks = {(as_of - d).days // 7 for d in days if (as_of - d).days < 28}
        out[feature] = {"first_day": days[0], "last_day": days[-1],
                        "discovery_days": (days[0] - car.delivered).days,
                        "windows": windows, "weeks": len(weeks)}
    return out


def nearest_rank(values: list[int], fraction: float) -> int:
    """The smallest value with at least ``fraction`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def fleet(cars: Iterable[Car], group_of: Callable[[Car], str], frm: date, to: date
          ) -> dict[str, dict[str, Any]]:
    """group -> active, observed, and per feature adopters, uses, seconds, adopters'
    driving, and the discovery days of the observed vehicles."""
    groups: dict[str, dict[str, Any]] = {}
    for car in cars:
        g = groups.setdefault(group_of(car), {"active": 0, "observed": 0, "features": {}})
        g["observed"] += car.observed
        drove = car.drove(frm, to)
        g["active"] += drove > 0
        for feature in car.uses:
            f = g["features"].setdefault(feature, {"adopters": 0, "uses": 0, "seconds": 0,
                                                   "drive_s": 0, "discovery": []})
            n, seconds = car.used_in(feature, frm, to)
            if drove > 0 and n > 0:
                f["adopters"] += 1
                f["uses"] += n
                f["seconds"] += seconds
                f["drive_s"] += drove
            firsts = [d for d in car.uses[feature] if d <= to]
            if car.observed and firsts:
                f["discovery"].append((min(firsts) - car.delivered).days)
    return groups


def retention(cars: Iterable[Car], feature: str, to: date, weeks: int = 12
              ) -> dict[str, list[tuple[int, int, int]]]:
    """Delivery month -> [(week, eligible vehicles, vehicles that used it that week)]."""
    out: dict[str, dict[int, list[int]]] = {}
    for car in cars:
        if not car.observed:
            continue
        cohort = out.setdefault(car.delivered.strftime("%Y-%m"), {})
        for n in range(weeks):
            lo = car.delivered + timedelta(days=7 * n)
            if lo + timedelta(days=6) > to:
                break
            cell = cohort.setdefault(n, [0, 0])
            cell[0] += 1
            cell[1] += car.used_in(feature, lo, lo + timedelta(days=6))[0] > 0
    return {c: [(n, e, u) for n, (e, u) in sorted(w.items())] for c, w in sorted(out.items())
            if w}


def by_version(cars: Iterable[Car], component: str, frm: date, to: date
               ) -> dict[str, dict[str, Any]]:
    """version -> active vehicles and per feature adopters, uses, seconds and the adopters'
    driving, each vehicle counted in a version for the days of that version."""
    groups: dict[str, dict[str, Any]] = {}
    for car in cars:
        days: dict[str, list[date]] = {}
        for n in range((to - frm).days + 1):
            day = frm + timedelta(days=n)
            days.setdefault(car.version_on(component, day), []).append(day)
        for version, on in days.items():
            drove = sum(car.drive_s.get(d, 0) for d in on)
            if drove == 0:
                continue
            g = groups.setdefault(version, {"active": 0, "features": {}})
            g["active"] += 1
            for feature, per in car.uses.items():
                n_uses = sum(per[d][0] for d in on if d in per)
                if n_uses:
                    f = g["features"].setdefault(feature, {"adopters": 0, "uses": 0,
                                                           "seconds": 0, "drive_s": 0})
                    f["adopters"] += 1
                    f["uses"] += n_uses
                    f["seconds"] += sum(per[d][1] for d in on if d in per)
                    f["drive_s"] += drove
    return groups
