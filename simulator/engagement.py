"""What owners do in the brand's app: owners whose car stops being driven (parked for good
or its box unplugged) but who keep opening the app and sending remote commands, and others
who open the app now and then. The events go to the truth (per owner) for the platform to
post; the truth's vehicle days are untouched (the gateway must conclude the activity)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from simulator.fleet import VehicleSpec
from simulator.truth import FleetTruth

STRONG = (("remote_command",), ("app_opened", "campaign_clicked"), ("booking_made",))


def app_engagement(fleet: list[VehicleSpec], start: date, days: int, seed: int,
                   truth: FleetTruth, casual_share: float = 0.3) -> None:
    """Add each owner's events to ``truth.engagement``. An owner whose car stops (dormant
    or silent) engages on about one day in three from then on, mostly enough for an
    engaged day, sometimes only a glance (one app_opened); ``casual_share`` of the others
    open the app on a few random days. Remote commands name the car."""
    for spec in fleet:
        rng = np.random.default_rng([seed, spec.index, 55])
        stops = min((d for d in (spec.dormant_from_day, spec.silent_from_day) if d is not None),
                    default=None)
        events = truth.engagement.setdefault(spec.owner_id, [])
        if stops is not None and rng.random() < 0.6:
            for d in range(stops, days):
                if rng.random() < 0.35:
                    kinds = STRONG[int(rng.integers(len(STRONG)))] if rng.random() < 0.8 \
                        else ("app_opened",)
                    events.extend(_events(spec, start, d, kinds, rng))
        elif rng.random() < casual_share:
            for d in sorted(int(x) for x in rng.choice(days, size=min(days, 4), replace=False)):
                events.extend(_events(spec, start, d, ("app_opened",), rng))


def _events(spec: VehicleSpec, start: date, d: int, kinds: tuple[str, ...],
            rng: np.random.Generator) -> list[dict[str, str | None]]:
    """Events on the car's local day ``d`` between 08:00 and 21:00."""
    local = datetime.combine(start + timedelta(days=d), time(8), ZoneInfo(spec.tz))
    out: list[dict[str, str | None]] = []
    for n, kind in enumerate(kinds):
        at = local + timedelta(minutes=int(rng.integers(0, 13 * 60)))
        out.append({"event_id": f"{spec.vin}-{d}-{n}-{kind}", "type": kind,
                    "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    "vin": spec.vin if kind == "remote_command" else None})
    return out
