"""Who the simulated vehicles are: VIN, timezone, powertrain, habits. Deterministic per seed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np

from decoders.catalog import load_catalog
from simulator.cockpit import Habits, cockpit_habits
from simulator.software import SoftwarePlan, software_plan, surfaced_habits

VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
HOMES = [  # timezone, latitude, longitude
    ("Europe/Berlin", 52.52, 13.40), ("Europe/Paris", 48.86, 2.35),
    ("Asia/Shanghai", 31.23, 121.47), ("America/New_York", 40.71, -74.01),
    ("Europe/Madrid", 40.42, -3.70), ("Asia/Tokyo", 35.68, 139.69),
    ("America/Los_Angeles", 34.05, -118.24), ("Australia/Sydney", -33.87, 151.21),
]
MODELS = {"ice": ["Aurora 1.5T", "Boreal 2.0"], "bev": ["Volta EV", "Ion Cross"],
          "phev": ["Hybrid Tourer"]}
CHANNELS = ("email", "sms", "app")
PERSONAS = ("commuter", "commuter", "commuter", "errands", "weekender", "light")
DOMAINS = load_catalog().domains
DEALERS = 20
GEOFENCE_M = 150.0
OPENING_HOURS = {"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00",
                 "thu": "08:00-18:00", "fri": "08:00-18:00", "sat": "08:00-13:00"}


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """A simulated vehicle and its habits."""

    index: int
    vin: str
    tz: str
    home_lat: float
    home_lon: float
    powertrain: str
    model: str
    persona: str
    delivered_on: date
    odometer_km: float
    commute_km: float
    dormant_from_day: int | None
    offline_from_day: int | None
    offline_days: int
    wire: str  # msgpack, json, can or pb (simulator/wire.py)
    domains: tuple[str, ...]
    owner_id: str
    dealer_id: str
    service_book: tuple[tuple[date, float], ...]  # (done on, odometer km), all items done
    advisor_id: str = ""
    owner_channel: str = "email"
    responds: bool = True      # books a visit after a service reminder
    partial: bool = False      # ... but has only the first item done, at a garage
    visit_only: bool = False   # ... or goes to the dealer but no service record follows
    dealer_lat: float = 0.0
    dealer_lon: float = 0.0
    stops: tuple[tuple[int, int, bool], ...] = ()  # (day, minutes, on a Sunday): not visits
    silent_from_day: int | None = None  # the box stops sending anything from this day on
    owner_type: str = "private"  # private, commercial_fleet or rental
    registered_as: str = ""  # the id the registry first gets, a duplicate of owner_id if not ""
    transfers: tuple[tuple[str, date], ...] = ()  # later owners: (owner id, first day)
    fading_from_day: int | None = None  # drives less and less from this day, stops 3 weeks on
    habits: Habits = ()  # the cockpit features its owner uses and when each was discovered
    software: SoftwarePlan = field(default_factory=SoftwarePlan)  # its over-the-air updates



def make_vin(rng: np.random.Generator, index: int) -> str:
    """A 17-character VIN (no I, O, Q), unique per index."""
    wmi = "".join(rng.choice(list("LSVWFJKMZ"), 3))
    body = "".join(rng.choice(list(VIN_CHARS), 8))
    return f"{wmi}{body}{index:06d}"


def _wire(pick: float, json_share: float, can_share: float, pb_share: float) -> str:
    if pick < json_share:
        return "json"
    if pick < json_share + can_share:
        return "can"
    return "pb" if pick < json_share + can_share + pb_share else "msgpack"


def make_fleet(n: int, days: int, start: date, seed: int, json_share: float = 0.1,
               catchup_share: float = 0.05, can_share: float = 0.0,
               pb_share: float = 0.0, silent_share: float = 0.0, fading_share: float = 0.0,
               new_share: float = 0.0) -> list[VehicleSpec]:
    """``n`` vehicles; the same seed always gives the same fleet. The shares split the
    fleet by wire format (the rest publishes MessagePack); ``silent_share`` of the cars
    (in runs of 20 days or more) stop sending anything at some day (an unplugged box);
    ``fading_share`` of the others drive less and less from some day and then stop;
    ``new_share`` of the cars were delivered in the two weeks before the run (their owners
    discover the cockpit's features during it)."""
    fleet = []
    dealers = make_dealers(seed)
    for i in range(n):
        rng = np.random.default_rng([seed, i, 1])
        tz, lat, lon = HOMES[int(rng.integers(len(HOMES)))]
        powertrain = str(rng.choice(["ice", "ice", "bev", "phev"]))
        persona = str(rng.choice(PERSONAS))
        dormant = int(rng.integers(1, max(2, days))) if rng.random() < 0.08 else None
        offline = None
        offline_days = 0
        if days >= 3 and rng.random() < catchup_share:
            offline_days = int(rng.integers(1, min(7, days - 1) + 1))
            offline = int(rng.integers(0, days - offline_days + 1))
        age_days = int(rng.integers(10, 1500))
        odometer = round(age_days * float(rng.uniform(15, 60)), 3)
        book: tuple[tuple[date, float], ...] = ()
        if age_days > 200 or rng.random() < 0.3:
            ago = int(rng.integers(5, min(age_days, 380)))
            book = ((start - timedelta(days=ago),
                     round(max(0.0, odometer - float(rng.uniform(0.3, 1.05)) * ago * 40), 1)),)
        n_domains = int(rng.integers(1, len(DOMAINS) + 1))
        fleet.append(VehicleSpec(
            index=i, vin=make_vin(rng, i), tz=tz,
            home_lat=lat + float(rng.normal(0, 0.05)), home_lon=lon + float(rng.normal(0, 0.05)),
            powertrain=powertrain, model=str(rng.choice(MODELS[powertrain])), persona=persona,
            delivered_on=start - timedelta(days=age_days),
            odometer_km=odometer,
            commute_km=float(rng.uniform(6, 35)), dormant_from_day=dormant,
            offline_from_day=offline, offline_days=offline_days,
            wire=_wire(float(rng.random()), json_share, can_share, pb_share),
            domains=tuple(sorted(rng.choice(DOMAINS, n_domains, replace=False).tolist())),
            owner_id=f"CUST-{seed % 1000:03d}-{i:06d}",
            dealer_id=_local_dealer(tz, int(rng.integers(1, 21))), service_book=book,
        ))
        more = np.random.default_rng([seed, i, 4])  # drawn apart: the draws above stay as they were
        fleet[-1] = replace(
            fleet[-1], advisor_id=f"{fleet[-1].dealer_id}-A{int(more.integers(1, 4))}",
            owner_channel=str(more.choice(CHANNELS)), responds=bool(more.random() < 0.7),
            partial=bool(more.random() < 0.2))
        fleet[-1] = _dealer_habits(fleet[-1], dealers, days, np.random.default_rng([seed, i, 8]))
        quiet = np.random.default_rng([seed, i, 10])
        if days >= 20 and quiet.random() < silent_share:
            fleet[-1] = replace(fleet[-1], silent_from_day=int(quiet.integers(days // 3,
                                                                              days - 8)))
        elif days >= 30 and quiet.random() < fading_share:
            fleet[-1] = replace(fleet[-1], fading_from_day=int(quiet.integers(5, days // 2)))
        young = np.random.default_rng([seed, i, 12])
        if young.random() < new_share:
            age = int(young.integers(0, 14))
            fleet[-1] = replace(fleet[-1], delivered_on=start - timedelta(days=age),
                                odometer_km=round(age * 40.0 + 12.0, 3), service_book=())
        spec = fleet[-1]
        plan = software_plan(days, np.random.default_rng([seed, i, 16]))
        habits = cockpit_habits(spec.domains, spec.delivered_on, young)
        fleet[-1] = replace(spec, habits=surfaced_habits(habits, plan, start), software=plan)
    return fleet


def _local_dealer(tz: str, draw: int) -> str:
    """One of the dealers of the vehicle's home city (``make_dealers`` places them)."""
    city = next(k for k, home in enumerate(HOMES) if home[0] == tz)
    local = [k for k in range(1, DEALERS + 1) if (k - 1) % len(HOMES) == city]
    return f"DLR-{local[draw % len(local)]:03d}"


def _dealer_habits(spec: VehicleSpec, dealers: list[dict[str, object]], days: int,
                   rng: np.random.Generator) -> VehicleSpec:
    """Where the vehicle's dealer is; whether its owner only visits after a reminder; the
    stops at the dealer that are not visits (too short, or on a closed day)."""
    site = next(d for d in dealers if d["id"] == spec.dealer_id)
    visit_only = spec.responds and not spec.partial and bool(rng.random() < 0.4)
    stops = []
    if days >= 10 and rng.random() < 0.2:
        stops.append((int(rng.integers(1, days - 1)), int(rng.integers(6, 21)), False))
    if days >= 10 and rng.random() < 0.1:
        stops.append((int(rng.integers(1, days - 8)), 60, True))
    return replace(spec, visit_only=visit_only, dealer_lat=float(site["latitude"]),  # type: ignore[arg-type]
                   dealer_lon=float(site["longitude"]), stops=tuple(stops))  # type: ignore[arg-type]


def make_dealers(seed: int, count: int = DEALERS) -> list[dict[str, object]]:
    """The dealers the fleet's vehicles are assigned to (``DLR-001`` ...), spread over the
    home cities in turn, with three advisors each, a booking URL template, a geofence and
    opening hours (Monday to Friday 08:00-18:00, Saturday 08:00-13:00)."""
    out: list[dict[str, object]] = []
    for k in range(1, count + 1):
        rng = np.random.default_rng([seed, k, 9])
        rng.integers(len(HOMES))  # was the city: keeps the draws below
        tz, lat, lon = HOMES[(k - 1) % len(HOMES)]
        dealer_id = f"DLR-{k:03d}"
        out.append({
            "id": dealer_id, "name": f"Simulated Motors {k}", "timezone": tz,
            "latitude": round(lat + float(rng.normal(0, 0.03)), 5),
            "longitude": round(lon + float(rng.normal(0, 0.03)), 5),
            "booking_url": f"https://booking.example/{dealer_id.lower()}"
                           "?vin={vin}&items={items}&reminder={reminder_id}",
            "advisors": [{"id": f"{dealer_id}-A{a}", "name": f"Advisor {a}"} for a in (1, 2, 3)],
            "geofence_m": GEOFENCE_M, "opening_hours": dict(OPENING_HOURS),
        })
    return out
