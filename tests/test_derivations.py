"""Derivations against the simulator's ground truth, and independent of arrival order."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from psycopg import sql

from features.conditions import day_aggregates_sql
from features.day_ends import START
from features.registry import add_service_record
from gateway.schema import migrate
from localservices import create_database, drop_database
from simulator.fleet import make_fleet
from simulator.stream import Faults, Outgoing, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import deriver_for, ingest, register_fleet
from tests.truth_oracle import expected_segment_changes, expected_service_events
from timeseries.db import connect
from timeseries.writer import BatchWriter

pytestmark = pytest.mark.live


def simulate(vehicles: int, days: int, seed: int, faults: Faults
             ) -> tuple[list[Outgoing], dict[str, Any]]:
    start = date.today() - timedelta(days=days + 2)
    truth = FleetTruth()
    fleet = make_fleet(vehicles, days, start, seed)
    msgs = list(fleet_stream(fleet, start, days, seed, 900, faults, truth))
    return msgs, truth.to_json()


async def derive_into_new_db(messages: list[Outgoing], truth: dict[str, Any],
                             derive_every: int = 8) -> str:
    """Register the fleet and its service books, ingest deriving every ``derive_every``
    batches of 500 messages."""
    url = create_database()
    conn = await connect(url)
    layout = await migrate(conn)
    await register_fleet(conn, truth["vehicles"])
    for vin, v in truth["vehicles"].items():
        for rec in v["meta"]["service_book"]:
            cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
            row = await cur.fetchone()
            assert row is not None
            await add_service_record(conn, row[0], date.fromisoformat(rec["done_on"]),
                                     rec["odometer_km"], rec["items"], rec["dealer_id"],
                                     engine_hours=rec.get("engine_hours"))
    dconn = await connect(url)
    await ingest(BatchWriter(conn, layout), messages, deriver=deriver_for(dconn),
                 derive_every=derive_every)
    await conn.close()
    await dconn.close()
    return url


async def fetch(url: str, q: str) -> list[tuple[Any, ...]]:
    async with await connect(url) as conn:
        cur = await conn.execute(q)
        return await cur.fetchall()


def _fleet_size() -> tuple[int, int]:
    v, d = os.environ.get("TRUTH_FLEET", "100x30").split("x")
    return int(v), int(d)


@pytest.fixture(scope="module")
async def truth_db() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    vehicles, days = _fleet_size()
    msgs, truth = simulate(vehicles, days, 21, Faults(duplicates=0.03, reorder=0.03, gaps=0.002))
    assert truth["faults"]["offline_catchup"] > 0 and truth["faults"]["gap_catchup"] > 0
    # every round derives nearly every car (each batch touches them all): a larger fleet
    # derives less often, as the gateway's timer does at full speed
    url = await derive_into_new_db(msgs, truth, max(8, vehicles // 3))
    yield url, truth
    drop_database(url)


def flat(profile: dict[str, Any]) -> dict[str, Any]:
    """Nested values one level up."""
    out = {k: v for k, v in profile.items() if not isinstance(v, dict)}
    for key, nested in profile.items():
        if isinstance(nested, dict):
            out.update({f"{key}.{k}": v for k, v in nested.items()})
    return out


DECIMALS = {"km_total": 2, "km_per_day": 2, "drive_hours": 3, "odometer_km": 1,
            "charged_kwh": 3}


def agree(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """Equal, numbers up to one unit of their last rounded digit (Python rounds the exact
    binary value, PostgreSQL its 15-digit decimal form: a half-way case may differ)."""
    a, b = flat(got), flat(want)
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, int | float) and isinstance(y, int | float) \
                and not isinstance(x, bool) and x is not y:
            if abs(x - y) > 10 ** -DECIMALS.get(k, 4) * 1.01:
                return False
        elif x != y:
            return False
    return True

@pytest.mark.timeout(2400)  # 100 vehicles x 30 days: about ten minutes on a quiet machine
async def test_daily_usage_and_trips_match_the_truth(
        truth_db: tuple[str, dict[str, Any]]) -> None:
    url, truth = truth_db
    rows = await fetch(url, "SELECT v.vin, (extract(epoch FROM t.start_ts) * 1000)::bigint,"
                            " t.km, t.harsh_brakes, t.harsh_accels, t.night_s FROM trips t"
                            " JOIN vehicles v ON v.id = t.vehicle_id")
    daily = {(vin, str(day)): (km, drive_s, n) for vin, day, km, drive_s, n in await fetch(
        url, "SELECT v.vin, d.day, d.km, d.drive_s, d.trips FROM daily_usage d"
             " JOIN vehicles v ON v.id = d.vehicle_id")}
    trips = {(vin, int(ms)): km for vin, ms, km, *_ in rows}
    harsh = {(vin, int(ms)): (brakes, accels) for vin, ms, _, brakes, accels, _ in rows}
    night = {(vin, int(ms)): night_s for vin, ms, *_, night_s in rows}
    problems: list[tuple[Any, ...]] = []
    n_days = n_trips = 0
    for vin, v in truth["vehicles"].items():
        for day, t in v["days"].items():
            n_days += 1
            km, drive_s, n = daily.get((vin, day), (0.0, 0.0, 0))
            if n != len(t["trips"]) or abs(km - t["km"]) > 0.005 * max(t["km"], 0.01) \
                    or abs(drive_s - t["drive_seconds"]) > 0.005 * max(t["drive_seconds"], 1):
                problems.append((vin, day, (km, drive_s, n), (t["km"], t["drive_seconds"],
                                                              len(t["trips"]))))
            for trip in t["trips"]:
                n_trips += 1
                got = trips.get((vin, trip["start_ms"]))
                if got is None or abs(got - trip["km"]) > 0.005 * max(trip["km"], 0.01):
                    problems.append((vin, trip, got))
                # the hard brakings the simulator meant, no more (none from speed steps)
                elif harsh[(vin, trip["start_ms"])] != (trip["harsh_brakes"], 0):
                    problems.append((vin, trip, harsh[(vin, trip["start_ms"])]))
                # rows come every few seconds: the edges of the night may fall between two
                elif abs(night[(vin, trip["start_ms"])] - trip["night_s"]) > 20:
                    problems.append((vin, trip, night[(vin, trip["start_ms"])]))
    assert problems == []
    assert len(trips) == n_trips and n_days > 0
    assert sum(b for b, _ in harsh.values()) > 0


async def test_day_end_readings_kept_pass_by_pass_equal_a_read_of_each_whole_day(
        truth_db: tuple[str, dict[str, Any]]) -> None:
    url, _ = truth_db
    stored = {(vid, day): (odo, cond, hours) for vid, day, odo, cond, hours in await fetch(
        url, "SELECT vehicle_id, day, odometer_km, conditions, engine_hours FROM daily_usage")}
    async with await connect(url) as conn:
        cur = await conn.execute(sql.SQL(
            "SELECT vehicle_id, (ts AT TIME ZONE tz)::date, max(odometer_km), {},"
            " max(engine_hours) FROM (SELECT s.*, v.timezone AS tz FROM samples s"
            " JOIN vehicles v ON v.id = s.vehicle_id) AS s GROUP BY 1, 2"
            ).format(day_aggregates_sql()), {"start": START})
        whole = {(vid, day): (odo, cond or None, hours) for vid, day, odo, cond, hours
                 in await cur.fetchall()}
    assert stored.keys() == whole.keys()
    differ = [(k, stored[k], whole[k]) for k in whole if stored[k] != whole[k]]
    assert differ == []


@pytest.mark.timeout(2400)  # 100 vehicles x 30 days: about ten minutes on a quiet machine
async def test_service_and_segment_events_match_the_truth(
        truth_db: tuple[str, dict[str, Any]]) -> None:
    url, truth = truth_db
    events = await fetch(url, "SELECT type, payload FROM feed_events ORDER BY id")
    service = [(p["vin"], t, p["cycle"], p["day"], "+".join(sorted(p["items_due"])))
               for t, p in events if t.startswith("service_")]
    assert len(service) == len(set(service))  # once each
    assert set(service) == expected_service_events(truth)
    segments = {(p["vin"], p["day"], p["from"], p["to"]) for t, p in events
                if t == "segment_changed"}
    assert segments == expected_segment_changes(truth)
    assert all(p["owner_id"] and p["dealer_id"] for _, p in events)


Reorder = Callable[[list[Outgoing], random.Random], list[Outgoing]]


def shuffled(msgs: list[Outgoing], rng: random.Random) -> list[Outgoing]:
    out = list(msgs)
    rng.shuffle(out)
    return out


def duplicated(msgs: list[Outgoing], rng: random.Random) -> list[Outgoing]:
    out = list(msgs)
    for m in rng.sample(msgs, len(msgs) // 3):
        out.insert(rng.randrange(len(out) + 1), m)
    return out


def late(msgs: list[Outgoing], rng: random.Random) -> list[Outgoing]:
    """A third of the vehicles are offline from day 3 to day 9: their messages of that week
    arrive in one late burst, in their own order, while the rest of the fleet moved on."""
    vins = sorted({m.topic.split("/")[1] for m in msgs})
    late_vins = set(rng.sample(vins, len(vins) // 3))
    t0 = min(m.send_ms for m in msgs)
    lo, hi = t0 + 3 * 86_400_000, t0 + 9 * 86_400_000

    def arrival(m: Outgoing) -> int:
        held = m.topic.split("/")[1] in late_vins and lo <= m.send_ms < hi
        return hi if held else m.send_ms

    return sorted(msgs, key=arrival)  # stable: each vehicle keeps its own order


DERIVED = {
    "trips": "SELECT v.vin, t.start_ts, t.end_ts, t.local_day, t.km, t.drive_s, t.max_speed,"
             " t.above_90_s, t.night_s, t.harsh_brakes, t.harsh_accels, t.fuel_used_pct,"
             " t.energy_used_pct FROM trips t JOIN vehicles v ON v.id = t.vehicle_id ORDER BY 1, 2",
    "daily": "SELECT v.vin, d.day, d.km, d.drive_s, d.trips, d.max_speed, d.night_s,"
             " d.harsh_brakes, d.refuels, d.charges, d.commute_trips, d.cockpit FROM daily_usage d"
             " JOIN vehicles v ON v.id = d.vehicle_id ORDER BY 1, 2",
    "segments": "SELECT v.vin, s.day, s.activity FROM segment_days s"
                " JOIN vehicles v ON v.id = s.vehicle_id ORDER BY 1, 2",
    "vehicles": "SELECT vin, odometer_km, activity, service_status FROM vehicles ORDER BY 1",
    "energy": "SELECT v.vin, e.ts, e.kind FROM energy_events e JOIN vehicles v"
              " ON v.id = e.vehicle_id ORDER BY 1, 2, 3",
}


async def test_same_results_in_order_shuffled_duplicated_and_late() -> None:
    msgs, truth = simulate(12, 14, 5, Faults())
    msgs.sort()
    results: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    feeds: dict[str, set[str]] = {}
    for name, reorder in (("in_order", None), ("shuffled", shuffled),
                          ("duplicated", duplicated), ("late", late)):
        order = msgs if reorder is None else reorder(msgs, random.Random(name))
        url = await derive_into_new_db(order, truth)
        try:
            results[name] = {k: await fetch(url, q) for k, q in DERIVED.items()}
            feeds[name] = {r[0] for r in await fetch(url, "SELECT key FROM feed_events")}
        finally:
            drop_database(url)
    base = results["in_order"]
    assert len(base["trips"]) > 50
    for name in ("shuffled", "duplicated", "late"):
        for table in DERIVED:
            assert results[name][table] == base[table], (name, table)
    # events: identical for late batches (each vehicle's data in its own order); when a
    # vehicle's newer data arrives days before its older data (random duplicates, a full
    # shuffle), days settle early: a full shuffle may add corrective segment changes
    # (docs/profiles.md), and every service announcement is made all the same, possibly on a
    # later day, and once (docs/service.md)
    assert feeds["late"] == feeds["in_order"]
    for name in ("duplicated", "shuffled"):
        assert service_items(feeds["in_order"]) <= service_items(feeds[name]), name
        assert lifecycle(feeds[name]) == lifecycle(feeds["in_order"]), name
    for name in ("duplicated", "shuffled"):
        assert segments(feeds["in_order"]) <= segments(feeds[name]), (
            name, sorted(segments(feeds["in_order"]) ^ segments(feeds[name])))


def service_items(keys: set[str]) -> set[tuple[str, ...]]:
    """(threshold, vin, cycle, item) of every service announcement, whatever its day."""
    out: set[tuple[str, ...]] = set()
    for key in keys:
        if key.startswith("service_"):
            kind, vin, cycle, _, items = key.split(":")
            out.update((kind, vin, cycle, item) for item in items.split("+"))
    return out


def lifecycle(keys: set[str]) -> set[str]:
    return {k for k in keys if k.startswith("reminder_")}


def segments(keys: set[str]) -> set[str]:
    return {k for k in keys if k.startswith("segment_changed")}


@pytest.mark.timeout(2400)  # 100 vehicles x 30 days: about ten minutes on a quiet machine
async def test_profiles_match_the_truth(truth_db: tuple[str, dict[str, Any]]) -> None:
    from features.profile import WINDOWS, vehicle_profile
    from tests.profile_oracle import oracle_profile

    url, truth = truth_db
    problems = []
    async with await connect(url) as conn:
        for vin, v in truth["vehicles"].items():
            last = date.fromisoformat(max(v["days"]))
            week = [(last - timedelta(days=i)).isoformat() for i in range(7)]
            km = sum(v["days"][d]["km"] for d in week if d in v["days"])
            trips = sum(len(v["days"][d]["trips"]) for d in week if d in v["days"])
            active = sum(1 for d in week if d in v["days"] and v["days"][d]["trips"])
            cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
            row = await cur.fetchone()
            assert row is not None
            p = await vehicle_profile(conn, row[0], 7, last)
            if p["trips"] != trips or p["active_days"] != active \
                    or abs(p["km_total"] - km) > 0.005 * max(km, 1):
                problems.append((vin, p["km_total"], km, p["trips"], trips))
            # the profile gives 0.1 km: a truth ending in exactly 5 hundredths is 0.05 away
            assert p["odometer_km"] == pytest.approx(v["days"][last.isoformat()]
                                                     ["final_odometer_km"], abs=0.05 + 1e-6)
            for window in WINDOWS:  # the SQL statement agrees with the Python computation
                for as_of in (last, last - timedelta(days=3)):
                    got = await vehicle_profile(conn, row[0], window, as_of)
                    want = await oracle_profile(conn, row[0], window, as_of)
                    assert agree(got, want), (vin, window, as_of, got, want)
    assert problems == []


async def test_consumption_equals_each_cars_own(truth_db: tuple[str, dict[str, Any]]) -> None:
    """Fuel and energy per 100 km from the level drops and the model's tank and battery
    equal what the simulated car consumes (each model has its own capacities)."""
    from features.profile import vehicle_profile

    url, truth = truth_db
    checked, problems = 0, []
    async with await connect(url) as conn:
        for vin, v in truth["vehicles"].items():
            last = date.fromisoformat(max(v["days"]))
            cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
            row = await cur.fetchone()
            assert row is not None
            p = await vehicle_profile(conn, row[0], 90, last)
            if p["km_total"] < 100:
                continue
            for key in ("fuel_l_per_100km", "energy_kwh_per_100km"):
                want = v["meta"]["consumption"][key]
                if want is None or p[key] is None:
                    continue
                checked += 1
                if abs(p[key] - want) > 0.005 * want:  # levels are sent to 0.01 %
                    problems.append((vin, v["meta"]["model"], key, p[key], want))
    assert problems == [], "\n".join(map(str, problems))
    assert checked > 20
