"""Charging sessions and refuels against the simulator's truth: owners who plug in their
wallbox at home (AC) and take a fast charger on the road (DC), cars that refuel, a session
still running when the data ends. The messages arrive in four wire formats with duplicates,
reordering, outages caught up later and a tenth of them held back to the end; every
session (times, levels, energy or volume added, AC/DC, home or public, complete or not)
and every summary equals the truth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from features.profile import vehicle_profile
from features.session_store import vehicle_sessions
from features.sessions import LevelSamples, charging_sessions, refuels
from localservices import drop_database
from simulator.fleet import make_fleet
from tests.direct_ingest import load_fleet

VEHICLES, DAYS, SEED = 30, 24, 73


@pytest.fixture(scope="module")
async def fleet() -> AsyncIterator[dict[str, Any]]:
    start = date.today() - timedelta(days=DAYS + 2)
    specs = make_fleet(VEHICLES, DAYS, start, SEED, can_share=0.15, pb_share=0.15)
    loaded = await load_fleet(specs, start, DAYS, SEED, 900)
    yield {"conn": loaded.conn, "truth": loaded.truth["vehicles"]}
    await loaded.conn.close()
    drop_database(loaded.url)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def test_the_fleet_has_the_situations(fleet: dict[str, Any]) -> None:
    sessions = [s for v in fleet["truth"].values() for s in v["sessions"]]
    charges = [s for s in sessions if s["kind"] == "charge"]
    assert {(s["place"], s["current"]) for s in charges} >= {("home", "AC"), ("public", "DC")}
    assert any(s["current"] is None for s in charges), "a car on CAN: no current reported"
    assert sum(s["kind"] == "refuel" for s in sessions) >= 5


async def _got(conn: Any, vin: str, kind: str) -> dict[str, Any]:
    cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
    row = await cur.fetchone()
    return await vehicle_sessions(conn, row[0], kind, None, None)


async def test_every_charging_session_equals_the_truth(fleet: dict[str, Any]) -> None:
    checked = 0
    for vin, v in fleet["truth"].items():
        want = [s for s in v["sessions"] if s["kind"] == "charge"]
        got = (await _got(fleet["conn"], vin, "charge"))["sessions"]
        assert len(got) == len(want), vin
        for g, w in zip(got, want, strict=True):
            where = f"{vin} {w['start_ms']}"
            assert (_ms(g["start"]), _ms(g["end"])) == (w["start_ms"], w["end_ms"]), where
            assert g["start_level_pct"] == pytest.approx(w["start_level"], abs=0.011), where
            assert g["end_level_pct"] == pytest.approx(w["end_level"], abs=0.011), where
            kwh = (w["end_level"] - w["start_level"]) / 100 * w["battery_kwh"]
            assert g["kwh_added"] == pytest.approx(kwh, rel=0.005, abs=0.01), where
            assert (g["latitude"], g["longitude"]) == pytest.approx((w["lat"], w["lon"]),
                                                                    abs=2e-6), where
            assert (g["current"], g["place"], g["complete"]) == \
                (w["current"], w["place"], w["complete"]), where
            hours = (w["end_ms"] - w["start_ms"]) / 3_600_000
            if hours > 0:
                assert g["avg_power_kw"] == pytest.approx(kwh / hours, rel=0.005), where
            checked += 1
    assert checked >= 20


async def test_every_refuel_equals_the_truth(fleet: dict[str, Any]) -> None:
    checked = 0
    for vin, v in fleet["truth"].items():
        want = [s for s in v["sessions"] if s["kind"] == "refuel"]
        got = (await _got(fleet["conn"], vin, "refuel"))["sessions"]
        assert len(got) == len(want), vin
        for g, w in zip(got, want, strict=True):
            where = f"{vin} {w['end_ms']}"
            assert (_ms(g["start"]), _ms(g["end"])) == (w["start_ms"], w["end_ms"]), where
            assert g["start_level_pct"] == pytest.approx(w["start_level"], abs=0.011), where
            assert g["litres_added"] == pytest.approx(w["litres"], rel=0.005, abs=0.01), where
            assert (g["latitude"], g["longitude"]) == pytest.approx((w["lat"], w["lon"]),
                                                                    abs=2e-6), where
            checked += 1
    assert checked >= 5


async def test_summaries_equal_the_truth(fleet: dict[str, Any]) -> None:
    for vin, v in fleet["truth"].items():
        km = sum(d["km"] for d in v["days"].values())
        got = (await _got(fleet["conn"], vin, "charge"))["summary"]
        want = [s for s in v["sessions"] if s["kind"] == "charge"]
        kwh = sum((s["end_level"] - s["start_level"]) / 100 * s["battery_kwh"] for s in want)
        assert got["sessions"] == len(want), vin
        assert got["km_driven"] == pytest.approx(km, rel=0.005), vin
        assert got["kwh_added"] == pytest.approx(kwh, rel=0.005, abs=0.01), vin
        if want:
            home = sum(s["place"] == "home" for s in want) / len(want)
            assert got["home_share"] == pytest.approx(home, abs=0.005), vin
            assert got["dc_share"] == pytest.approx(
                sum(s["current"] == "DC" for s in want) / len(want), abs=0.005), vin
        if km > 0 and want:
            assert got["kwh_per_100km"] == pytest.approx(kwh / km * 100, rel=0.005), vin


async def test_the_profile_s_charging_features_equal_the_truth(fleet: dict[str, Any]) -> None:
    conn = fleet["conn"]
    checked = 0
    for vin, v in fleet["truth"].items():
        as_of = date.fromisoformat(max(v["days"]))
        tz = ZoneInfo(v["meta"]["timezone"])
        want = [s for s in v["sessions"] if s["kind"] == "charge" and as_of - timedelta(
            days=30) < datetime.fromtimestamp(s["start_ms"] / 1000, tz).date() <= as_of]
        cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
        row = await cur.fetchone()
        p = await vehicle_profile(conn, row[0], 30, as_of)
        kwh = sum((s["end_level"] - s["start_level"]) / 100 * s["battery_kwh"] for s in want)
        assert p["charged_kwh"] == pytest.approx(kwh, rel=0.005, abs=0.01), vin
        if not want:
            assert p["home_charging_share"] is None, vin
            continue
        home = sum(s["place"] == "home" for s in want) / len(want)
        assert p["home_charging_share"] == pytest.approx(home, abs=0.0001), vin
        checked += 1
    assert checked >= 5


def _samples(ts: list[int], **cols: list[float]) -> LevelSamples:
    n = len(ts)
    nan = [float("nan")] * n
    return LevelSamples(np.array(ts, dtype=np.int64),
                        *(np.array(cols.get(k, nan), dtype=np.float64) for k in
                          ("fuel", "soc", "charging", "lat", "lon", "dc_amps", "ac_amps")))


def test_a_run_needs_a_not_charging_sample_before_it() -> None:
    nan = float("nan")
    s = _samples([0, 1, 2, 3, 4, 5], soc=[40, 41, 50, 60, 60, 60],
                 charging=[1, 0, 1, nan, 1, 0], ac_amps=[nan, nan, 32, nan, nan, nan])
    got = charging_sessions(s)
    assert len(got) == 1, "the run at the start has no known beginning"
    x = got[0]
    assert (x.start_ms, x.end_ms, x.start_level, x.end_level) == (2, 4, 41.0, 60.0)
    assert (x.current, x.complete) == ("AC", True), "a flagless sample does not end a run"


def test_a_refuel_is_a_rise_of_ten_points() -> None:
    s = _samples([0, 1, 2, 3], fuel=[20, 29.9, 30, 95], lat=[1, 1, 1, 2], lon=[3, 3, 3, 4])
    got = refuels(s)
    assert [(x.start_ms, x.end_ms, x.start_level, x.end_level, x.lat) for x in got] == \
        [(2, 3, 30.0, 95.0, 2.0)]
