"""The service loop against the simulator's truth: which reminders, on which day, with which
items; how they ended; the predicted dates; the conversion report."""

from __future__ import annotations

import math
import os
import statistics
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from features import dealers
from features.conditions import load_conditions
from features.registry import add_service_record
from features.worklist import conversion
from gateway.schema import migrate
from localservices import create_database, drop_database
from simulator.fleet import make_dealers, make_fleet
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests.direct_ingest import deriver_for, ingest, register_fleet
from timeseries.db import connect
from timeseries.writer import BatchWriter

pytestmark = pytest.mark.live
# documented in docs/service.md: the range holds the actual day in at least this share of
# cases, and the expected day is off by at most this many days at the median
RANGE_HITS_MIN, MEDIAN_ERROR_DAYS_MAX = 0.65, 6


def fewest_hits(n: int, share: float, risk: float = 0.01) -> int:
    """The fewest hits out of ``n`` that a range holding the day in ``share`` of cases still
    gives with probability above ``risk`` (the binomial quantile): with a few dozen items,
    a share measured once is too noisy to hold against the bar itself."""
    below = 0.0
    for k in range(n + 1):
        below += math.comb(n, k) * share ** k * (1 - share) ** (n - k)
        if below > risk:
            return k
    return n


def _size() -> tuple[int, int]:
    v, d = os.environ.get("SERVICE_FLEET", "50x120").split("x")
    return int(v), int(d)


@pytest.fixture(scope="module")
async def loop_db() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    vehicles, days = _size()
    start = date.today() - timedelta(days=days + 2)
    truth = FleetTruth()
    fleet = make_fleet(vehicles, days, start, 31, json_share=0.2)
    faults = Faults(duplicates=0.03, reorder=0.03, gaps=0.002)
    msgs = list(fleet_stream(fleet, start, days, 31, 3600, faults, truth, sample_s=10))
    tj = truth.to_json()
    url = create_database()
    conn = await connect(url)
    layout = await migrate(conn)
    for d in make_dealers(31):
        await dealers.upsert(conn, dealers.parse(d))
    await register_fleet(conn, tj["vehicles"])
    for vin, v in tj["vehicles"].items():
        cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
        row = await cur.fetchone()
        assert row is not None
        for rec in v["meta"]["service_book"]:
            async with conn.transaction():
                await add_service_record(conn, row[0], date.fromisoformat(rec["done_on"]),
                                         rec["odometer_km"], rec["items"], rec["dealer_id"],
                                         engine_hours=rec.get("engine_hours"))
    dconn = await connect(url)
    await ingest(BatchWriter(conn, layout), msgs, deriver=deriver_for(dconn), derive_every=20)
    await conn.close()
    await dconn.close()
    yield url, tj
    drop_database(url)


async def _rows(url: str, q: str) -> list[tuple[Any, ...]]:
    async with await connect(url) as conn:
        cur = await conn.execute(q)
        return await cur.fetchall()


def _settled(v: dict[str, Any]) -> str:
    return (date.fromisoformat(max(v["days"])) - timedelta(days=1)).isoformat()


def expected_items(truth: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    """(vin, cycle, item, threshold, day) of every announcement on a settled day."""
    return {(vin, r["cycle"], r["item"], r["threshold"], r["day"])
            for vin, v in truth["vehicles"].items() for r in v["service"]["reminders"]
            if r["day"] <= _settled(v)}


@pytest.mark.timeout(2400)
async def test_reminders_are_exactly_the_truth(loop_db: tuple[str, dict[str, Any]]) -> None:
    url, truth = loop_db
    want = expected_items(truth)
    got = {(vin, c, i, t, d.isoformat()) for vin, c, i, t, d in await _rows(
        url, "SELECT v.vin, r.cycle, i.item, i.threshold, i.day FROM service_reminder_items i"
             " JOIN service_reminders r ON r.id = i.reminder_id"
             " JOIN vehicles v ON v.id = r.vehicle_id")}
    assert sorted(got - want) == [] and sorted(want - got) == []
    conditions = {r.get("reading", {}).get("condition") for v in truth["vehicles"].values()
                  for r in v["service"]["reminders"] if r.get("reading")}
    assert conditions == {c.name for c in load_conditions()}  # every rule seen at work
    assert len(want) > _size()[0] and {t for *_, t, _ in want} == {"due_soon", "overdue"}
    assert any(c != "delivery" and c > min(truth["vehicles"][v]["days"])
               for v, c, *_ in want)  # cycles started by visits during the run


async def test_events_list_items_consistently_once(loop_db: tuple[str, dict[str, Any]]
                                                   ) -> None:
    url, truth = loop_db
    events = await _rows(url, "SELECT type, payload FROM feed_events"
                              " WHERE type LIKE 'service_%' ORDER BY id")
    groups: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for vin, c, item, t, d in expected_items(truth):
        groups[(vin, c, t, d)].add(item)
    readings = {(vin, r["cycle"], r["item"], r["threshold"]): r.get("reading")
                for vin, v in truth["vehicles"].items() for r in v["service"]["reminders"]}
    reasons = {(vin, r["cycle"], r["item"], r["threshold"]): r["reason"]
               for vin, v in truth["vehicles"].items() for r in v["service"]["reminders"]}
    assert {"distance", "time", "engine_hours", "condition"} <= set(reasons.values())
    seen: list[tuple[str, str, str, str]] = []
    for kind, p in events:
        assert kind == f"service_{p['status']}"
        assert set(p["items_due"]) == groups[(p["vin"], p["cycle"], p["status"], p["day"])]
        seen.extend((p["vin"], p["cycle"], i, p["status"]) for i in p["items_due"])
        unknown = p["history"] == "unknown"
        assert (p["routes"]["owner"] is None) == unknown
        for item in p["items"]:
            assert item["status"] == p["status"]
            assert item["reason"] == reasons[(p["vin"], p["cycle"], item["name"], p["status"])]
            if item["reason"] == "condition":
                want_reading = readings[(p["vin"], p["cycle"], item["name"], p["status"])]
                assert item["reading"] == want_reading and not item["assumed"]
                continue
            assert item["assumed"] == unknown and item["reading"] is None
            km_left, days_left = item["remaining_km"], item["remaining_days"]
            soft = (1000.0, 30) if p["status"] == "due_soon" else (0.0, 0)
            by_km = km_left is not None and km_left <= soft[0]
            by_days = days_left is not None and days_left <= soft[1]
            by_hours = item["remaining_hours"] is not None and item["remaining_hours"] <= (
                25.0 if p["status"] == "due_soon" else 0.0)
            assert by_km or by_days or by_hours
            assert item["reason"] == ("distance" if by_km else
                                      "engine_hours" if by_hours else "time")
            if p["status"] == "due_soon":
                assert not (km_left is not None and km_left <= 0)
                assert not (days_left is not None and days_left <= 0)
    assert len(seen) == len(set(seen))  # no item announced twice for a threshold
    assert len(events) == len(groups)


async def test_reminders_end_as_in_the_truth(loop_db: tuple[str, dict[str, Any]]) -> None:
    url, truth = loop_db
    got = {(vin, c): (s, d.isoformat() if d else None, by) for vin, c, s, d, by in await _rows(
        url, "SELECT v.vin, r.cycle, r.state, r.closed_day, r.closed_by"
             " FROM service_reminders r JOIN vehicles v ON v.id = r.vehicle_id")}
    want = {}
    for vin, v in truth["vehicles"].items():
        cycles = {r["cycle"] for r in v["service"]["reminders"] if r["day"] <= _settled(v)}
        for cycle in cycles:
            end = v["service"]["outcomes"].get(cycle)
            want[(vin, cycle)] = (end["outcome"], end["day"], end["by"]) if end \
                else ("open", None, None)
    assert got == want
    ends = {(s, by) for s, _, by in want.values()}
    assert {("resolved", "service_record"), ("resolved", "dealer_visit"),
            ("expired", "service_record"), ("open", None)} <= ends


async def test_dealer_visits_are_exactly_the_truth(loop_db: tuple[str, dict[str, Any]]
                                                   ) -> None:
    """Every stay the simulator counts as a visit (its own reading of the geofence and the
    opening hours), none of the stops that are too short or on a closed day."""
    url, truth = loop_db
    want = {(vin, x["dealer_id"], x["day"], x["arrived_ms"], x["left_ms"])
            for vin, v in truth["vehicles"].items() for x in v["service"]["visits"]
            if x["day"] <= _settled(v)}
    got = {(vin, d, day.isoformat(), a, b) for vin, d, day, a, b in await _rows(
        url, "SELECT v.vin, d.dealer_id, d.day, (extract(epoch FROM d.arrived_at) * 1000)"
             "::bigint, (extract(epoch FROM d.left_at) * 1000)::bigint FROM dealer_visits d"
             " JOIN vehicles v ON v.id = d.vehicle_id")}
    assert sorted(got - want) == [] and sorted(want - got) == []
    events = await _rows(url, "SELECT payload FROM feed_events WHERE type = 'dealer_visit'")
    assert sorted((p["vin"], p["dealer_id"], p["day"]) for (p,) in events) == \
        sorted((vin, d, day) for vin, d, day, _, _ in want)
    others = [x for v in truth["vehicles"].values() for x in v["service"]["not_visits"]]
    assert len(want) >= 20 and len(others) >= 5  # and stays at a dealer that are not visits


async def test_trouble_codes_are_exactly_the_truth(loop_db: tuple[str, dict[str, Any]]
                                                  ) -> None:
    """Per vehicle and code: first and last report listing it, the report that cleared
    it, how many times it was set; a misfire code makes engine_check due (checked with the
    other announcements), a body code that clears on its own makes nothing due."""
    url, truth = loop_db
    want = {(vin, code, c["first_seen_ms"], c["last_seen_ms"], c["cleared_ms"], c["episodes"])
            for vin, v in truth["vehicles"].items() for code, c in v["service"]["dtcs"].items()}
    got = set(await _rows(
        url, "SELECT v.vin, d.code, (extract(epoch FROM d.first_seen) * 1000)::bigint,"
             " (extract(epoch FROM d.last_seen) * 1000)::bigint,"
             " (extract(epoch FROM d.cleared_at) * 1000)::bigint, d.episodes"
             " FROM vehicle_dtcs d JOIN vehicles v ON v.id = d.vehicle_id"))
    assert sorted(got - want) == [] and sorted(want - got) == []
    codes = {code for _, code, *_ in want}
    assert {"P0302", "B1A00"} <= codes
    assert any(c[4] is not None for c in want) and any(c[4] is None for c in want)
    misfires = {(vin, r["reading"]["value"]) for vin, v in truth["vehicles"].items()
                for r in v["service"]["reminders"]
                if r.get("reading", {}).get("condition") == "engine_misfire"}
    assert misfires and {code for _, code in misfires} == {"P0302"}


async def test_predicted_dates_against_the_day_the_car_got_there(
        loop_db: tuple[str, dict[str, Any]]) -> None:
    """Each due-soon item predicted by distance: the first day the simulated car's day-end
    odometer reached the item's due distance (when it did within the run), against the
    predicted day and range."""
    url, truth = loop_db
    events = await _rows(url, "SELECT payload FROM feed_events WHERE type = 'service_due_soon'")
    errors, hits = [], 0
    for (p,) in events:
        days = truth["vehicles"][p["vin"]]["days"]
        for item in p["items"]:
            pred = item["predicted"]
            if pred is None or pred["by"] != "distance":
                continue
            actual = next((d for d, t in sorted(days.items()) if d > p["day"]
                           and t["final_odometer_km"] >= item["due_km"]), None)
            if actual is None:
                continue  # not reached within the run
            errors.append(abs((date.fromisoformat(pred["date"])
                               - date.fromisoformat(actual)).days))
            hits += pred["earliest"] <= actual <= pred["latest"]
    assert len(errors) >= 20
    print(f"predictions: {len(errors)}, in range {hits / len(errors):.2f},"
          f" median error {statistics.median(errors)} days, p90"
          f" {sorted(errors)[int(0.9 * len(errors))]} days")
    assert hits >= fewest_hits(len(errors), RANGE_HITS_MIN)
    assert statistics.median(errors) <= MEDIAN_ERROR_DAYS_MAX


async def test_conversion_report_equals_the_truth(loop_db: tuple[str, dict[str, Any]]) -> None:
    url, truth = loop_db
    days = sorted({d for v in truth["vehicles"].values() for d in v["days"]})
    start, end = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    want: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    waits: dict[str, list[int]] = defaultdict(list)
    for v in truth["vehicles"].values():
        dealer = v["meta"]["dealer_id"]
        opened: dict[str, str] = {}
        for r in v["service"]["reminders"]:
            if r["day"] <= _settled(v):
                opened[r["cycle"]] = min(opened.get(r["cycle"], r["day"]), r["day"])
        resolved_by = set()
        for cycle, day in opened.items():
            w = want[dealer]
            w["issued"] += 1
            end_ = v["service"]["outcomes"].get(cycle)
            if end_ and end_["outcome"] == "resolved":
                wait = (date.fromisoformat(end_["day"]) - date.fromisoformat(day)).days
                w["resolved"] += 1
                w["resolved_by_visit"] += end_["by"] == "dealer_visit"
                waits[dealer].append(wait)
                resolved_by.add(end_["day"])
                for n in (30, 60, 90):
                    w[f"resolved_{n}d"] += wait <= n
            elif end_:
                w["expired"] += 1
        want[dealer]["visits"] += sum(x["day"] <= _settled(v) for x in v["service"]["visits"])
        for rec in v["meta"]["service_book"]:
            if start.isoformat() <= rec["done_on"] <= end.isoformat():
                want[dealer]["services"] += 1
                want[dealer]["services_without_reminder"] += rec["done_on"] not in resolved_by
    async with await connect(url) as conn:
        rows = await conversion(conn, start, end, "dealer")
    got = {r["dealer"]: r for r in rows}
    assert set(got) == set(want)
    for dealer, w in want.items():
        g = got[dealer]
        for key in ("issued", "resolved", "resolved_by_visit", "resolved_30d", "resolved_60d",
                    "resolved_90d", "expired", "services", "services_without_reminder",
                    "visits"):
            assert g[key] == w[key], (dealer, key)
        median = statistics.median(waits[dealer]) if waits[dealer] else None
        assert g["median_days_to_service"] == median, dealer
