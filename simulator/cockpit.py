"""Cockpit habits and the events of one trip.

Each car's owner has habits: which features they use (CarPlay or Android Auto, which media
source, which apps) and when they discovered each one, some days after delivery, or never.
Before that day the feature is not used. The features named here are the simulator's own
statement of what the owner did; the truth records them per day, so the gateway's catalog
is checked against it, not against itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

MEDIA = ("radio", "bluetooth", "streaming", "usb")
PROJECTION = ("carplay", "android_auto")
APPS = ("weather", "parking", "charging_map")
NEVER = 0.2  # share of a car's features its owner never discovers
DISCOVERY_DAYS = 75  # the others: uniformly 0 .. this many days after delivery
Habits = tuple[tuple[str, date | None], ...]  # (feature, discovered on; None: never)
Event = tuple[str, dict[str, Any]]  # (the feature the owner used, the contract event)


def cockpit_habits(domains: tuple[str, ...], delivered_on: date,
                   rng: np.random.Generator) -> Habits:
    """The features of a car's domains its owner uses, and when each was discovered."""
    features: list[str] = []
    for dom in domains:
        if dom == "navigation":
            features.append("navigation.route_guidance")
        elif dom == "media":
            n = int(rng.integers(1, 3))
            features += [f"media.{s}" for s in rng.choice(MEDIA, n, replace=False).tolist()]
        elif dom == "voice":
            features.append("voice.assistant")
        elif dom == "projection":
            features.append(f"projection.{rng.choice(PROJECTION)}")
        elif dom == "adas":
            features.append("adas.lane_keep")
        elif dom == "apps":
            n = int(rng.integers(1, 3))
            features += [f"apps.{a}" for a in rng.choice(APPS, n, replace=False).tolist()]
    out: list[tuple[str, date | None]] = []
    for name in sorted(features):
        never = rng.random() < NEVER
        after = int(rng.integers(0, DISCOVERY_DAYS + 1))
        out.append((name, None if never else delivered_on + timedelta(days=after)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Trip:
    """What the events of a trip depend on."""

    start: int
    end: int
    day: date
    kind: str  # commute, highway, errand ...
    ac: bool
    cold: bool  # under 8 degrees at the start: seat heating instead of air conditioning


def trip_events(rng: np.random.Generator, domains: tuple[str, ...], habits: Habits,
                trip: Trip) -> list[Event]:
    """The trip's cockpit events, one per (time, type) as the contract keys them. Draws
    from ``rng`` in the same order whatever the habits (the rest of the car's life stays
    the same when habits change)."""
    known = {name: on for name, on in habits}

    def used(feature: str) -> bool:
        on = known.get(feature)
        return on is not None and on <= trip.day

    hours = (trip.end - trip.start) / 3_600_000
    out: list[Event] = []

    def at(t: int, feature: str, typ: str, **attrs: Any) -> None:
        out.append((feature, {"t": t, "type": typ, "attrs": attrs}))

    def till_end(t: int) -> int:
        return max(0, (trip.end - t) // 1000)

    def poisson(rate: float, make: Callable[[int, int], None]) -> None:
        for i in range(int(rng.poisson(rate * hours))):
            make(i, int(rng.integers(trip.start, trip.end)))

    mine = [name for name, _ in habits]
    if "projection" in domains and rng.random() < 0.8:
        rng.choice(PROJECTION)  # the phone kind is the owner's habit now; the draw stays
        kind = next((f for f in mine if f.startswith("projection.")), "")
        if used(kind):
            t = trip.start + 3000
            at(t, kind, "infotainment.projection.connected", kind=kind.split(".")[1],
               duration_s=till_end(t))
    # the draw comes first: it is taken whether or not the owner found navigation yet
    if "navigation" in domains and rng.random() < (0.9 if trip.kind == "highway" else 0.35) \
            and used("navigation.route_guidance"):
        t = trip.start + 6000
        at(t, "navigation.route_guidance", "infotainment.navigation.route_started",
           destination="work", duration_s=till_end(t))
    if "media" in domains and rng.random() < 0.7:
        pick = MEDIA.index(str(rng.choice(MEDIA)))  # the draw the source always took
        sources = [f for f in mine if f.startswith("media.") and used(f)]
        if sources:
            t, src = trip.start + 8000, sources[pick % len(sources)]
            at(t, src, "infotainment.media.play", source=src.split(".")[1],
               duration_s=till_end(t) // 2)
    if "climate" in domains:
        if trip.ac:
            at(trip.start + 2000, "climate.ac", "climate.ac.on")
        elif trip.cold:
            at(trip.start + 2000, "climate.seat_heating", "climate.seat_heating.on")
    if "voice" in domains:
        poisson(0.8, lambda i, t: at(t, "voice.assistant", "infotainment.voice.command",
                                     domain="navigation") if used("voice.assistant") else None)
    if "phone" in domains:
        poisson(0.5, lambda i, t: at(t, "phone.calls", "infotainment.phone.call"))
    if "adas" in domains and trip.kind == "highway":
        poisson(2.0, lambda i, t: at(t, "adas.lane_keep", "adas.lane_keep.engaged")
                if used("adas.lane_keep") else None)
    if "apps" in domains:
        apps = [f for f in mine if f.startswith("apps.") and used(f)]
        poisson(0.6, lambda i, t: at(t, apps[i % len(apps)], "app.opened",
                                     app=apps[i % len(apps)].split(".")[1]) if apps else None)
    seen: set[tuple[int, str]] = set()
    unique = []
    for feature, ev in sorted(out, key=lambda fe: (fe[1]["t"], fe[1]["type"])):
        if (ev["t"], ev["type"]) not in seen:
            seen.add((ev["t"], ev["type"]))
            unique.append((feature, ev))
    return unique
