"""One vehicle's life, local day by local day: trips, parked heartbeats, refuels, charging,
cockpit events; rows grouped into contract messages. Truth is recorded as rows are made."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from simulator.cockpit import Trip, trip_events
from simulator.condition import DTC, SOH, CarCondition, code_truth
from simulator.dealer_trips import DealerTrips, dealer_points, metres
from simulator.drive import drive_trace
from simulator.fleet import VehicleSpec
from simulator.service import DATA, Schedule, Visit
from simulator.software import HEAD_UNIT, VEHICLE
from simulator.truth import DayTruth, VehicleTruth

BATCH_S = 10
FADE_DAYS = 21  # a fading owner drives on fewer days each day, none after this many
ALL_ITEMS = ("inspection", "engine_oil", "cabin_filter", "brake_fluid", "tyre_rotation")
HOME_M = 250.0  # parked this close to home, the car is at home (the gateway's rule too)
# charging: (kW, target %, current signal, amps) at home (AC wallbox) and on the road (DC)
HOME_CHARGER = (7.4, 90.0, "Vehicle.Powertrain.TractionBattery.Charging.ChargeCurrent.Phase1",
                32.0)
FAST_CHARGER = (50.0, 80.0, "Vehicle.Powertrain.TractionBattery.Charging.ChargeCurrent.DC",
                125.0)
Row = dict[str, Any]
MODELS_FILE = DATA / "models.json"


@dataclass(slots=True)
class Chunk:
    """Rows (and events) that leave the vehicle as one message at ``send_ms``."""

    t0: int
    rows: list[tuple[int, Row]]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def send_ms(self) -> int:
        """When the vehicle sends it: right after its last row."""
        return self.rows[-1][0] + 1000 if self.rows else self.t0


@dataclass(slots=True)
class State:
    """What the vehicle carries from trip to trip."""

    odometer: float
    fuel: float
    soc: float
    lat: float
    lon: float
    heading: float
    charging: bool = False
    charger: tuple[float, float, str, float] = HOME_CHARGER
    engine_hours: float = 0.0


def engine_hours_at_start(spec: VehicleSpec, start: date, seed: int) -> float | None:
    """The engine's hours on the first simulated day (None without a combustion engine)."""
    if spec.powertrain not in ("ice", "phev"):
        return None
    per_day = float(np.random.default_rng([seed, spec.index, 7]).uniform(0.6, 1.2))
    return round((start - spec.delivered_on).days * per_day, 2)


@cache
def model_capacities(model: str) -> tuple[float, float]:
    """(tank litres, battery kWh) of a model, from the models file the gateway reads."""
    raw = json.loads(MODELS_FILE.read_text())
    spec = {**raw["default"], **raw["models"].get(model, {})}
    return float(spec["tank_l"]), float(spec["battery_kwh"])


def initial_book(spec: VehicleSpec, start: date, seed: int) -> list[Visit]:
    """The service book before the simulation: every item at each record, the engine hours
    noted in proportion to the odometer."""
    hours = engine_hours_at_start(spec, start, seed)
    return [Visit(d, km, ALL_ITEMS, round(hours * km / spec.odometer_km, 1)
                  if hours is not None and spec.odometer_km > 0 else None)
            for d, km in spec.service_book]


def _seen_runs(spans: list[tuple[int, int]], n: int, sample_s: int) -> int:
    """How many of the hard brakings (index spans of the trace) the sent rows show: a row
    goes every ``sample_s`` seconds and at the end; brakings that no sent row falls in are
    not seen, and two with no sent row between them look like one."""
    inside = {i for a, b in spans for i in range(a, b + 1)}
    sent = [i for i in range(n) if i % sample_s == 0 or i == n - 1]
    return sum(1 for k, i in enumerate(sent)
               if i in inside and (k == 0 or sent[k - 1] not in inside))


def _minutes(km: float) -> float:
    """About how long an urban trip of ``km`` takes, idling included."""
    return km / 30 * 60 + 2


COMPONENTS = {HEAD_UNIT: "head_unit", VEHICLE: "vehicle"}


class VehicleLife:
    """Generates one vehicle's chunks in time order."""

    def __init__(self, spec: VehicleSpec, start: date, days: int, seed: int,
                 heartbeat_s: int, truth: VehicleTruth, sample_s: int = 1) -> None:
        self.spec = spec
        self.start = start
        self.days = days
        self.tz = ZoneInfo(spec.tz)
        self.heartbeat_s = heartbeat_s
        self.sample_s = sample_s  # seconds between rows while driving
        self.truth = truth
        self.rng = np.random.default_rng([seed, spec.index, 2])
        self.state = State(spec.odometer_km, float(self.rng.uniform(40, 95)),
                           float(self.rng.uniform(50, 95)), spec.home_lat, spec.home_lon,
                           float(self.rng.uniform(0, 360)))
        self.rng.uniform(0, 12_000)  # was the dashboard's service base: keeps later draws
        self.has_engine = spec.powertrain in ("ice", "phev")
        self.state.engine_hours = engine_hours_at_start(spec, start, seed) or 0.0
        # the DBCs carry neither condition signals nor engine hours
        self.reports_condition = spec.wire != "can"
        self.reports_hours = self.has_engine and self.reports_condition
        self.reports_dtcs = spec.wire in ("msgpack", "json")  # a list: the map contract only
        self.dtc_log: list[tuple[int, list[str]]] = []
        self.software_log: list[tuple[int, str, str]] = []  # (t, component, version) sent
        self.day_index = 0
        self.day_hours: float | None = None  # the last engine hours reported so far
        book = initial_book(spec, start, seed)
        self.schedule = Schedule(
            spec.model, spec.powertrain, spec.delivered_on, book, spec.responds,
            spec.partial, spec.visit_only, np.random.default_rng([seed, spec.index, 5]))
        self.dealer_trips = DealerTrips(spec, dealer_points(seed), self.tz)
        self.condition = CarCondition.make(
            np.random.default_rng([seed, spec.index, 6]), spec.powertrain, days,
            (start - spec.delivered_on).days, spec.odometer_km)
        self.starts_today: list[dict[str, Any]] = []
        # (from day, traction battery health lost a year): the rate changes at a repair
        self.soh_rates = [(start.isoformat(), self.condition.soh_per_year)]
        ice, ev = spec.powertrain in ("ice", "phev"), spec.powertrain in ("bev", "phev")
        self.has_fuel, self.has_battery = ice, ev
        self.l_per_100 = float(self.rng.uniform(5.5, 9.0))
        self.kwh_per_100 = float(self.rng.uniform(15, 21))
        # the model's real tank and battery (the catalog the gateway reads too)
        self.tank_l, self.battery_kwh = model_capacities(spec.model)
        self.fuel_used_l = self.energy_used_kwh = self.km_driven = 0.0
        self.night_rng = np.random.default_rng([seed, spec.index, 15])
        self.night_owl = bool(self.night_rng.random() < 0.25)  # some owners go out late
        self.sessions: list[dict[str, Any]] = []  # charging sessions and refuels, as sent
        self.open_session: dict[str, Any] | None = None
        self.sent: dict[str, tuple[int, float]] = {}  # the last level sent: (t, value)

    def consumption(self) -> dict[str, float | None]:
        """What the car used per 100 km over its whole simulated life, and its capacities."""
        km = self.km_driven

        def per_100(used: float, has: bool) -> float | None:
            return round(used / km * 100, 4) if has and km > 0 else None
        return {"fuel_l_per_100km": per_100(self.fuel_used_l, self.has_fuel),
                "energy_kwh_per_100km": per_100(self.energy_used_kwh, self.has_battery),
                "tank_l": self.tank_l, "battery_kwh": self.battery_kwh}

    def session_truth(self) -> list[dict[str, Any]]:
        """Charging sessions and refuels as the gateway must find them in the sent rows."""
        if self.open_session is not None:
            self.open_session.pop("ended", None)
            self.sessions.append({**self.open_session, "complete": False})
            self.open_session = None
        return self.sessions

    def dtc_truth(self) -> dict[str, dict[str, Any]]:
        """What the gateway must know of each trouble code the car reported."""
        return code_truth(self.dtc_log)

    def day_bounds(self, day: date) -> tuple[int, int]:
        """UTC ms of local midnight starting and ending ``day``."""
        lo = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        nxt = day + timedelta(days=1)
        hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.tz)
        return int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)

    def chunks(self) -> Iterator[tuple[int, Chunk]]:
        """``(day_end_ms, chunk)`` for every chunk, in time order."""
        t = self.day_bounds(self.start)[0]
        for d in range(self.days):
            if self.spec.silent_from_day is not None and d >= self.spec.silent_from_day:
                return  # the box is unplugged: nothing more is sent, or known
            day = self.start + timedelta(days=d)
            lo, hi = self.day_bounds(day)
            truth = self.truth.day(day.isoformat())
            self.condition.new_day(d)
            self.day_index = d
            self.starts_today = []
            drives = not (self.spec.dormant_from_day is not None
                          and d >= self.spec.dormant_from_day)
            visit, to_dealer = self.schedule.morning(
                day, self.state.odometer,
                round(self.state.engine_hours, 1) if self.has_engine else None, drives)
            if visit is not None:
                self.condition.service(visit.items, self.state.odometer)
            if self.condition.ev and self.soh_rates[-1][1] != self.condition.soh_per_year:
                self.soh_rates.append((day.isoformat(), self.condition.soh_per_year))
            t = max(t, lo)
            stay = self.dealer_trips.stay_today(self.rng, d, day, to_dealer) if drives else None
            if stay is not None:
                t, chunks = self._dealer_round(t, lo, day, stay, truth)
                yield from ((hi, c) for c in chunks)
            plan = self._plan(d, day, lo)
            plan += self._night_out(plan, lo, hi)
            home = (self.spec.home_lat, self.spec.home_lon)
            for n, (planned, km, kind) in enumerate(plan):
                trip_start = max(planned, t + 10 * 60_000)  # a longer trip pushes the next
                late = planned >= lo + 22 * 3_600_000  # a night outing: ends before midnight
                if trip_start > (hi - int(_minutes(km) * 60_000) - 30 * 60_000 if late
                                 else hi - 2 * 3_600_000):
                    break
                yield from ((hi, c) for c in self._parked(t, trip_start, truth))
                # the day's last trip brings the car home (where it charges overnight)
                end, chunks = self._trip(trip_start, km, kind,
                                         dest=home if n == len(plan) - 1 else None)
                yield from ((hi, c) for c in chunks)
                t = end
            yield from ((hi, c) for c in self._parked(t, hi, truth))
            truth.final_odometer_km = round(self.state.odometer, 3)
            self.schedule.evening(day, truth.final_odometer_km,
                                  self.start + timedelta(days=self.days - 1), self.starts_today,
                                  self.day_hours)

    def _night_seconds(self, start: int, n: int) -> int:
        """Seconds of the trip (one per second of its trace, the last one ends it) between
        22:00 and 05:00 local time, at the UTC offset of its start."""
        offset = self.tz.utcoffset(datetime.fromtimestamp(start / 1000, self.tz))
        assert offset is not None
        hours = ((start / 1000 + offset.total_seconds() + np.arange(n - 1)) % 86_400) / 3600
        return int(((hours >= 22) | (hours < 5)).sum())

    def _night_out(self, plan: list[tuple[int, float, str]], lo: int, hi: int
                   ) -> list[tuple[int, float, str]]:
        """A night owl's late outing on some days it drives: out after 22:00 and back before
        midnight (its own draws: the rest of the car's life is the same with or without)."""
        if not plan or not self.night_owl or self.night_rng.random() > 0.35:
            return []
        out = lo + int(float(self.night_rng.uniform(22.0, 22.4)) * 3_600_000)
        out -= out % 1000
        km = float(self.night_rng.uniform(2, 8))
        back = out + int((_minutes(km) + float(self.night_rng.uniform(15, 35))) * 60_000)
        back -= back % 1000
        return [(out, km, "urban"), (back, km, "urban")] if back < hi - 45 * 60_000 else []

    def _plan(self, d: int, day: date, lo: int) -> list[tuple[int, float, str]]:
        """Trips of one local day: (start ms, km, road kind), not overlapping."""
        s, rng = self.spec, self.rng
        if s.dormant_from_day is not None and d >= s.dormant_from_day:
            return []
        if rng.random() < 0.08:
            return []
        if s.fading_from_day is not None and d >= s.fading_from_day \
                and rng.random() < (d - s.fading_from_day + 1) / FADE_DAYS:
            return []
        weekend = day.weekday() >= 5
        wanted: list[tuple[float, float, str]] = []  # (local hour, km, kind)

        def outing(hour: float, km: float, kind: str, stay_h: float) -> None:
            wanted.append((hour, km, kind))
            wanted.append((hour + stay_h, km * float(rng.uniform(0.9, 1.1)), kind))

        if s.persona == "light" and rng.random() > 0.35:
            return []
        if s.persona == "commuter" and not weekend:
            kind = "suburban" if s.commute_km > 15 else "urban"
            outing(float(rng.uniform(6.8, 8.7)), s.commute_km, kind, float(rng.uniform(8.5, 10)))
            if rng.random() < 0.35:
                outing(float(rng.uniform(19, 20.5)), float(rng.uniform(2, 9)), "urban", 0.6)
        else:
            trips_today = int(rng.integers(1, 4 if s.persona == "errands" else 3))
            hour = float(rng.uniform(9, 11))
            for _ in range(trips_today):
                outing(hour, float(rng.uniform(2, 12)), "urban", float(rng.uniform(0.4, 1.5)))
                hour += float(rng.uniform(2, 4))
            long_p = 0.6 if s.persona == "weekender" else 0.15
            if weekend and rng.random() < long_p:
                outing(float(rng.uniform(8, 9)), float(rng.uniform(60, 220)), "highway", 0.3)
        plan: list[tuple[int, float, str]] = []
        next_free = lo
        for hour, km, kind in sorted(wanted):
            start = max(lo + int(hour * 3_600_000), next_free)
            start -= start % 1000
            plan.append((start, km, kind))
            est_s = km / {"urban": 30, "suburban": 50, "highway": 90}[kind] * 3600 + 120
            next_free = start + int(est_s * 1000) + 15 * 60_000
        return [p for p in plan if p[0] < lo + 86_400_000 - 3 * 3_600_000]

    def _dealer_round(self, t: int, lo: int, day: date, stay: tuple[float, int],
                      truth: DayTruth) -> tuple[int, list[Chunk]]:
        """Drive to the dealer, park on its lot for the stay, drive home: (when the car is
        home, the chunks). A stay that counts as a visit goes into the truth."""
        hour, minutes = stay
        depart = max(lo + int(hour * 3_600_000), t + 10 * 60_000)
        depart -= depart % 1000
        out = list(self._parked(t, depart, truth))
        spot = self.dealer_trips.spot(self.rng)
        km = self.dealer_trips.road_km(self.state.lat, self.state.lon, *spot)
        arrived, chunks = self._trip(depart, km, "urban", dest=spot)
        out += chunks
        left = arrived + minutes * 60_000
        out += self._parked(arrived, left, truth)
        home = (self.spec.home_lat, self.spec.home_lon)
        km = self.dealer_trips.road_km(self.state.lat, self.state.lon, *home)
        back, chunks = self._trip(left, km, "urban", dest=home)
        out += chunks
        stay_truth = {"dealer_id": self.spec.dealer_id, "day": day.isoformat(),
                      "arrived_ms": arrived, "left_ms": left}
        if self.dealer_trips.is_visit(arrived, left):
            self.schedule.visited(day)
            self.schedule.visits.append(stay_truth)
        else:
            self.schedule.not_visits.append(stay_truth)
        return back, out

    def _outside_temp(self, t_ms: int) -> float:
        doy = datetime.fromtimestamp(t_ms / 1000, self.tz).timetuple().tm_yday
        hour = datetime.fromtimestamp(t_ms / 1000, self.tz).hour
        season = math.cos((doy - 200) / 365 * 2 * math.pi) * (1 if self.spec.home_lat > 0 else -1)
        return round(12 + 11 * season + 4 * math.sin((hour - 9) / 24 * 2 * math.pi), 1)

    def _common(self, temp: float, ignition: str) -> Row:
        st = self.state
        row: Row = {
            "Vehicle.TraveledDistance": round(st.odometer, 3),
            "Vehicle.CurrentLocation.Latitude": round(st.lat, 6),
            "Vehicle.CurrentLocation.Longitude": round(st.lon, 6),
            "Vehicle.LowVoltageSystemState": ignition,
            "Vehicle.Exterior.AirTemperature": temp,
        }
        to_service = self.schedule.distance_to_service(round(st.odometer, 3))
        if to_service is not None:
            row["Vehicle.Service.DistanceToService"] = to_service
        if self.has_fuel:
            row["Vehicle.Powertrain.FuelSystem.RelativeLevel"] = round(st.fuel, 2)
        if self.has_battery:
            row["Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed"] = round(st.soc, 2)
            row["Vehicle.Powertrain.TractionBattery.Charging.IsCharging"] = st.charging
        return row

    def _parked(self, frm: int, to: int, truth: DayTruth) -> Iterator[Chunk]:
        """Heartbeats on the grid between trips; refuelling and charging happen here."""
        st, hb = self.state, self.heartbeat_s * 1000
        t = frm - frm % hb + hb
        if self.has_fuel and st.fuel < 15 and t < to:
            self._refuel(t)
            truth.refuels += 1
        if self.has_battery and not st.charging and t < to and self._plug_in(t, to):
            truth.charges += 1
        while t < to:
            kw, target, signal, amps = st.charger
            if st.charging:
                st.soc = min(target, st.soc + kw / self.battery_kwh * 100 * hb / 3_600_000)
            row = self._common(self._outside_temp(t), "OFF")
            ending = st.charging and st.soc >= target
            if st.charging:
                if self.spec.wire != "can":  # the DBCs carry no charging current
                    row[signal] = amps
                assert self.open_session is not None
                self.open_session.update(end_ms=t, end_level=round(st.soc, 2))
            yield Chunk(t, [(t, row)])
            self._count_rows([(t, row)])
            if ending:
                self._unplug()
            t += hb

    def _at_home(self) -> bool:
        return metres(self.state.lat, self.state.lon, self.spec.home_lat,
                       self.spec.home_lon) <= HOME_M

    def _plug_in(self, t: int, to: int) -> bool:
        """At home below 45 %, the owner plugs in the wallbox (AC); on the road below 40 %
        with 20 minutes to spare, an electric car takes a fast charger (DC)."""
        st = self.state
        home = self._at_home()
        if home and st.soc < 45:
            st.charger = HOME_CHARGER
        elif not home and st.soc < 40 and self.spec.powertrain == "bev" \
                and to - t >= 20 * 60_000:
            st.charger = FAST_CHARGER
        else:
            return False
        st.charging = True
        self.open_session = {
            "kind": "charge", "start_ms": t, "end_ms": t,
            "start_level": self.sent["soc"][1], "end_level": self.sent["soc"][1],
            "lat": round(st.lat, 6), "lon": round(st.lon, 6),
            "current": None if self.spec.wire == "can" else
            ("DC" if st.charger is FAST_CHARGER else "AC"),
            "place": "home" if home else "public", "battery_kwh": self.battery_kwh}
        return True

    def _unplug(self) -> None:
        """Charging stops; the session is complete once a later row shows it."""
        self.state.charging = False
        if self.open_session is not None:
            self.open_session["ended"] = True

    def _refuel(self, t: int) -> None:
        st = self.state
        since, level = self.sent["fuel"]
        st.fuel = 100.0
        self.sessions.append({
            "kind": "refuel", "start_ms": since, "end_ms": t, "start_level": level,
            "end_level": 100.0, "lat": round(st.lat, 6), "lon": round(st.lon, 6),
            "litres": round((100.0 - level) / 100 * self.tank_l, 3), "complete": True})

    def _count_rows(self, rows: list[tuple[int, Row]]) -> None:
        self.truth.rows += len(rows)
        self.truth.values += sum(len(r) for _, r in rows)
        if not rows:
            return
        s = self.open_session
        if s is not None and s.get("ended") and rows[-1][0] > s["end_ms"]:
            del s["ended"]
            self.sessions.append({**s, "complete": True})
            self.open_session = None
        for key, name in (("fuel", "Vehicle.Powertrain.FuelSystem.RelativeLevel"),
                          ("soc", "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed")):
            last = [(t, r[name]) for t, r in rows if r.get(name) is not None]
            if last:
                self.sent[key] = last[-1]

    def _trip(self, start: int, km: float, kind: str,
              dest: tuple[float, float] | None = None) -> tuple[int, list[Chunk]]:
        """One trip; with ``dest`` it ends there (a straight line), otherwise it wanders,
        and never ends near a dealer unless that is where it was going. It counts on the
        local day it starts, which is not the planning day when an earlier trip ran late."""
        st, rng, spec = self.state, self.rng, self.spec
        truth = self.truth.day(datetime.fromtimestamp(start / 1000, self.tz).date().isoformat())
        if st.charging:
            self._unplug()
        trace = drive_trace(rng, km, kind)
        home_dist = math.hypot(st.lat - spec.home_lat, st.lon - spec.home_lon) * 111
        if home_dist > 3:
            st.heading = math.degrees(math.atan2(spec.home_lon - st.lon, spec.home_lat - st.lat))
        st.heading = (st.heading + float(rng.normal(0, 40))) % 360
        odo0 = st.odometer
        volume = float(rng.integers(8, 40)) if "media" in spec.domains else None
        temp = self._outside_temp(start)
        ac = temp > 22
        rows: list[tuple[int, Row]] = []
        n = len(trace.speed)
        lat0, lon0, total = st.lat, st.lon, max(float(trace.distance[-1]), 1e-9)
        for i in range(n):
            t = start + i * 1000
            st.odometer = odo0 + float(trace.distance[i])
            if dest is not None:
                frac = float(trace.distance[i]) / total
                st.lat, st.lon = lat0 + (dest[0] - lat0) * frac, lon0 + (dest[1] - lon0) * frac
            step_km = float(trace.speed[i]) / 3600
            st.heading = (st.heading + float(rng.normal(0, 2))) % 360
            rad = math.radians(st.heading)
            ignition = "START" if i == 0 else ("OFF" if i == n - 1 else "ON")
            keep = i % self.sample_s == 0 or i == n - 1
            row = self._common(temp, ignition) if keep else {}
            if dest is None:
                st.lat += step_km * math.cos(rad) / 111
                st.lon += step_km * math.sin(rad) / (111 * max(0.2,
                                                               math.cos(math.radians(st.lat))))
            if self.has_fuel:
                level = max(0.0, st.fuel - step_km * self.l_per_100 / self.tank_l)
                self.fuel_used_l += (st.fuel - level) / 100 * self.tank_l
                st.fuel = level
            if self.has_battery:  # an empty battery drives on (the PHEV's engine takes over)
                level = max(0.0, st.soc - step_km * self.kwh_per_100 / self.battery_kwh)
                self.energy_used_kwh += (st.soc - level) / 100 * self.battery_kwh
                st.soc = level
            if not keep:
                continue
            if i == 0 and self.reports_condition:
                at_start = self.condition.readings(st.odometer)
                if self.reports_dtcs:
                    self.dtc_log.append((t, at_start[DTC]))
                    for name, version in spec.software.versions(self.day_index).items():
                        row[name] = version
                        self.software_log.append((t, COMPONENTS[name], version))
                else:
                    del at_start[DTC]
                row.update(at_start)
                self.starts_today.append(at_start)
                if SOH in at_start:
                    truth.soh = min(truth.soh or 100.0, at_start[SOH])
            if self.reports_hours and i in (0, n - 1):
                self.day_hours = round(st.engine_hours + i / 3600, 2)
                row["Vehicle.Powertrain.CombustionEngine.EngineHours"] = self.day_hours
            row["Vehicle.Speed"] = float(trace.speed[i])
            row["Vehicle.CurrentLocation.Heading"] = round(st.heading, 1)
            row["Vehicle.Acceleration.Longitudinal"] = float(trace.accel[i])
            row["Vehicle.Cabin.HVAC.IsAirConditioningActive"] = ac
            if volume is not None:
                row["Vehicle.Cabin.Infotainment.Media.Volume"] = volume
            if self.has_fuel:
                row["Vehicle.Powertrain.CombustionEngine.Speed"] = round(
                    0.0 if i == n - 1 else 750 + float(trace.speed[i]) * 28, 0)
            rows.append((t, row))
        st.odometer = odo0 + float(trace.distance[-1])
        if dest is None or dest != self.dealer_trips.last_spot:
            self.dealer_trips.keep_away(st, rows)
        if self.has_engine:
            st.engine_hours += (n - 1) / 3600
        self._count_rows(rows)
        trip_km = round(rows[-1][1]["Vehicle.TraveledDistance"]
                        - rows[0][1]["Vehicle.TraveledDistance"], 3)
        end = rows[-1][0]
        truth.km = round(truth.km + trip_km, 3)
        self.km_driven += trip_km
        truth.drive_seconds += (end - start) // 1000
        truth.trips.append({"start_ms": start, "end_ms": end, "km": trip_km, "kind": kind,
                            "harsh_brakes": _seen_runs(trace.harsh, n, self.sample_s),
                            "night_s": self._night_seconds(start, n)})
        chunks = [Chunk(rows[i][0], rows[i:i + BATCH_S]) for i in range(0, len(rows), BATCH_S)]
        trip = Trip(start, end, datetime.fromtimestamp(start / 1000, self.tz).date(), kind, ac,
                    not ac and self._outside_temp(start) < 8)
        for feature, ev in trip_events(self.rng, spec.domains, spec.habits, trip):
            truth.events[ev["type"]] += 1
            on = datetime.fromtimestamp(ev["t"] / 1000, self.tz).date().isoformat()
            use = self.truth.day(on).features.setdefault(feature, [0, 0])
            use[0] += 1
            use[1] += int(ev["attrs"].get("duration_s", 0))
            self.truth.events += 1
            idx = min((ev["t"] - start) // (BATCH_S * self.sample_s * 1000), len(chunks) - 1)
            chunks[idx].events.append(ev)
        return end, chunks
