"""Cockpit feature usage against the simulator's truth: owners with their own habits (which
phone projection, which media sources and apps) who discover features at different times
after delivery, or never. The messages arrive with duplicates, reordering, outages caught up
later and a tenth of them held back to the end; every per-vehicle figure (first and last
use, discovery, uses and minutes per window, retention) and every fleet figure (adoption,
intensity, discovery median and p90, week-N retention, who never used a feature) equals a
reading of the truth written apart from the gateway's code. Cars get over-the-air updates
in the run (one surfaces the voice assistant): each car's software history, the update
events and the figures by software version equal the truth too."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from features import insights, software, usage_windows
from features.feature_usage import vehicle_feature_usage
from features.version_insights import COMPONENT, version_insights_from
from localservices import drop_database
from simulator import cells
from simulator.fleet import make_fleet
from simulator.software import HU_NEW, HU_OLD, SURFACED
from tests import feature_oracle as oracle
from tests.direct_ingest import load_fleet

pytestmark = pytest.mark.live
# FEATURE_FLEET=500x90 runs the same checks on a larger fleet (on demand: docs/insights.md)
VEHICLES, DAYS = (int(x) for x in os.environ.get("FEATURE_FLEET", "40x56").split("x"))
SEED = 58
# shares come to 4 decimals: half a unit of the last one off at most (1/32 = 0.03125 is
# given as 0.0312, and in floats that is a hair more than 0.00005 away)
SHARE_TOLERANCE = 0.00005 * (1 + 1e-9)


@pytest.fixture(scope="module")
async def fleet() -> AsyncIterator[dict[str, Any]]:
    start = date.today() - timedelta(days=DAYS + 2)
    specs = make_fleet(VEHICLES, DAYS, start, SEED, new_share=0.4, can_share=0.1,
                       pb_share=0.1)
    loaded = await load_fleet(specs, start, DAYS, SEED, 3600, beside=True)
    tj = loaded.truth
    cars = [oracle.Car.of(vin, v) for vin, v in tj["vehicles"].items()]
    # the last simulated local day is whole in every time zone
    yield {"url": loaded.url, "conn": loaded.conn, "cars": cars,
           "as_of": start + timedelta(days=DAYS - 1), "truth": tj}
    await loaded.conn.close()
    drop_database(loaded.url)


def test_the_fleet_has_the_situations(fleet: dict[str, Any]) -> None:
    cars: list[oracle.Car] = fleet["cars"]
    observed = [c for c in cars if c.observed]
    habits = [h for v in fleet["truth"]["vehicles"].values()
              for h in v["meta"]["habits"].values()]
    in_run = [c for c in observed for per in c.uses.values() if min(per) > c.data_from]
    assert len(observed) >= VEHICLES // 5, "cars delivered just before the run"
    assert None in habits, "features some owners never find"
    assert in_run, "features discovered during the run"
    assert {f.split(".")[0] for c in cars for f in c.uses} >= {"projection", "media", "apps"}


async def test_each_vehicle_s_feature_usage_equals_the_truth(fleet: dict[str, Any]) -> None:
    conn, as_of = fleet["conn"], fleet["as_of"]
    checked = 0
    for car in fleet["cars"]:
        cur = await conn.execute("SELECT id, timezone FROM vehicles WHERE vin = %s",
                                 (car.vin,))
        vid, tz = await cur.fetchone()
        got = await vehicle_feature_usage(conn, vid, as_of, car.delivered)
        want = oracle.vehicle(car, as_of)
        assert got["unknown_uses_90"] == 0
        assert got["observed_from_delivery"] == car.observed, car.vin
        features = {f["feature"]: f for f in got["features"]}
        assert set(features) == set(want), car.vin
        for name, w in want.items():
            f = features[name]
            where = f"{car.vin} {name}"
            assert f["first_use_day"] == w["first_day"].isoformat(), where
            assert f["discovery_days"] == w["discovery_days"], where
            last = datetime.fromisoformat(f["last_use"]).astimezone(ZoneInfo(tz)).date()
            assert last == w["last_day"], where
            for win, ww in w["windows"].items():
                gw = f["windows"][win]
                assert (gw["uses"], gw["minutes"]) == (ww["uses"], ww["minutes"]), where
                assert gw["drive_hours"] == pytest.approx(ww["drive_s"] / 3600, rel=0.005,
                                                          abs=0.001), where
            assert f["weeks_used_of_last_4"] == w["weeks"], where
            assert f["retained"] == (w["weeks"] >= 3), where
            checked += 1
        assert set(got["never_used"]).isdisjoint(features)
    assert checked > VEHICLES * 3


@pytest.mark.parametrize("days", [28, 30, 7])
@pytest.mark.parametrize("by", ["model", "dealer", "delivery_month", "segment"])
async def test_fleet_adoption_intensity_and_discovery_equal_the_truth(
        fleet: dict[str, Any], by: str, days: int) -> None:
    """28 days: computed from the days; 30 and 7: read from the stored periods."""
    to = fleet["as_of"] - timedelta(days=1)  # settled for every car (segments need it)
    frm = to - timedelta(days=days - 1)
    stored = usage_windows.period_of(frm, to) is not None
    if stored and await usage_windows.stored_to(fleet["conn"]) != to:
        async with fleet["conn"].transaction():
            await usage_windows.refresh(fleet["conn"], to, None)
    assert stored == (days != 28)
    got = {g["group"]: g for g in await insights.feature_insights(
        fleet["conn"], by, frm, to)}  # type: ignore[arg-type]
    group_of: dict[str, Callable[[oracle.Car], str]] = {
        "model": lambda c: c.model, "dealer": lambda c: c.dealer,
        "delivery_month": lambda c: c.delivered.strftime("%Y-%m"),
        "segment": lambda c: cells.activity(fleet["truth"], c.vin, to, {})[to.isoformat()]}
    want = oracle.fleet(fleet["cars"], group_of[by], frm, to)
    assert set(got) == set(want)
    for group, w in want.items():
        g = got[group]
        assert (g["active"], g["observed"]) == (w["active"], w["observed"]), group
        shown = {f for f, x in w["features"].items() if x["adopters"] or x["discovery"]}
        assert set(g["features"]) == shown, group
        for name in shown:
            wf, gf = w["features"][name], g["features"][name]
            where = f"{group} {name}"
            assert gf["adopters"] == wf["adopters"], where
            if w["active"]:
                assert gf["adoption"] == pytest.approx(wf["adopters"] / w["active"],
                                                       abs=SHARE_TOLERANCE), where
            else:  # discovered earlier, and no vehicle of the group drove in the period
                assert gf["adoption"] is None, where
            assert gf["uses"] == wf["uses"], where
            assert gf["minutes"] == pytest.approx(wf["seconds"] / 60, abs=0.005), where
            if wf["adopters"]:
                rate = wf["uses"] / (wf["drive_s"] / 3600)
                assert gf["uses_per_drive_hour"] == pytest.approx(rate, rel=0.005), where
            disc = gf["discovery"]
            assert disc["discovered"] == len(wf["discovery"]), where
            if wf["discovery"]:
                assert disc["median_days"] == oracle.nearest_rank(wf["discovery"], 0.5)
                assert disc["p90_days"] == oracle.nearest_rank(wf["discovery"], 0.9)


async def test_week_n_retention_per_delivery_cohort_equals_the_truth(
        fleet: dict[str, Any]) -> None:
    cars: list[oracle.Car] = fleet["cars"]
    with_users = 0
    for feature in sorted({f for c in cars for f in c.uses}):
        got = await insights.retention(fleet["conn"], feature, "model", None, fleet["as_of"])
        want = oracle.retention(cars, feature, fleet["as_of"])
        assert {c["cohort"]: [(w["week"], w["eligible"], w["users"]) for w in c["weeks"]]
                for c in got} == want, feature
        with_users += any(u for weeks in want.values() for _, _, u in weeks)
    assert with_users >= 5
    model = cars[0].model
    got = await insights.retention(fleet["conn"], "navigation.route_guidance", "model",
                                   model, fleet["as_of"])
    want = oracle.retention([c for c in cars if c.model == model],
                            "navigation.route_guidance", fleet["as_of"])
    assert {c["cohort"]: [(w["week"], w["eligible"], w["users"]) for w in c["weeks"]]
            for c in got} == want


async def test_never_used_lists_exactly_the_cars_without_the_feature(
        fleet: dict[str, Any]) -> None:
    cars: list[oracle.Car] = fleet["cars"]
    model = cars[0].model
    for feature in ("voice.assistant", "adas.lane_keep"):
        rows = [r async for r in insights.never_used(fleet["conn"], feature, {"model": model})]
        assert [r["vin"] for r in rows] == sorted(
            c.vin for c in cars if c.model == model and feature not in c.uses)
        assert all(r["model"] == model and r["owner_id"] for r in rows)


def test_the_fleet_has_software_updates(fleet: dict[str, Any]) -> None:
    metas = [v["meta"] for v in fleet["truth"]["vehicles"].values()]
    updated = [m for m in metas if len(m["software"].get("head_unit", [])) > 1]
    surfaced = [m for m in updated if m["habits"].get(SURFACED) == m["head_unit_update_on"]]
    assert len(updated) >= VEHICLES // 5, "head-unit updates during the run"
    assert surfaced, "owners who found the voice assistant through the update"
    assert any(len(m["software"].get("vehicle", [])) > 1 for m in metas)
    assert any(not m["software"] for m in metas), "cars that report no versions (CAN, protobuf)"


async def test_each_vehicle_s_software_history_and_updates_equal_the_truth(
        fleet: dict[str, Any]) -> None:
    conn = fleet["conn"]
    want_events = set()
    for vin, v in fleet["truth"]["vehicles"].items():
        cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
        (vid,) = await cur.fetchone()
        got = await software.of_vehicle(conn, vid)
        truth = v["meta"]["software"]
        want = [(c, e["version"], _iso(e["first_ms"]), _iso(e["last_ms"]), e["reports"])
                for c in sorted(truth) for e in truth[c]]
        assert [(h["component"], h["version"], h["first_seen"], h["last_seen"], h["reports"])
                for h in got["history"]] == want, vin
        assert got["current"] == {c: truth[c][-1]["version"] if truth.get(c) else None
                                  for c in ("head_unit", "vehicle")}
        for c, entries in truth.items():
            want_events |= {(vin, c, a["version"], b["version"], b["first_ms"], b["last_ms"])
                            for a, b in pairwise(entries)}
    cur = await conn.execute(
        "SELECT payload->>'vin', payload->>'component', payload->>'from', payload->>'to',"
        " payload->>'first_seen' FROM feed_events WHERE type = 'software_updated'")
    rows = await cur.fetchall()
    # announced once, from the first report that showed it: with reports held back, that
    # may be a later report of the same version than the earliest one (the history's)
    assert sorted(r[:4] for r in rows) == sorted(w[:4] for w in want_events)
    spans = {w[:4]: w[4:] for w in want_events}
    for *key, seen in rows:
        lo, hi = spans[tuple(key)]
        assert lo <= datetime.fromisoformat(seen).timestamp() * 1000 <= hi, key
    assert want_events


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("days", [0, 30, 7])
@pytest.mark.parametrize("by", ["software_version", "vehicle_software_version"])
async def test_fleet_figures_by_software_version_equal_the_truth(
        fleet: dict[str, Any], by: str, days: int) -> None:
    """0: the whole simulated period, computed from the days; 30 and 7 days ending
    yesterday: read from the stored periods."""
    cars: list[oracle.Car] = fleet["cars"]
    conn = fleet["conn"]
    to = fleet["as_of"] - timedelta(days=1) if days else fleet["as_of"]
    frm = to - timedelta(days=(days or DAYS) - 1)
    if days and await usage_windows.stored_to(conn) != to:
        async with conn.transaction():
            await usage_windows.refresh(conn, to, None)
    component = COMPONENT[by]
    for model in (None, cars[0].model):
        groups, stored = await version_insights_from(
            conn, by, frm, to, model)  # type: ignore[arg-type]
        assert stored == bool(days)
        got = {g["group"]: g for g in groups}
        want = oracle.by_version([c for c in cars if model in (None, c.model)], component,
                                 frm, to)
        assert set(got) == set(want) and len(want) >= 2, (by, model)
        for version, w in want.items():
            g = got[version]
            assert g["active"] == w["active"], version
            assert set(g["features"]) == set(w["features"]), version
            for name, wf in w["features"].items():
                gf, where = g["features"][name], f"{model} {version} {name}"
                assert (gf["adopters"], gf["uses"]) == (wf["adopters"], wf["uses"]), where
                assert gf["adoption"] == pytest.approx(wf["adopters"] / w["active"],
                                                       abs=SHARE_TOLERANCE), where
                assert gf["minutes"] == pytest.approx(wf["seconds"] / 60, abs=0.005), where
                rate = wf["uses"] / (wf["drive_s"] / 3600)
                assert gf["uses_per_drive_hour"] == pytest.approx(rate, rel=0.005), where
    if by == "software_version" and not days:  # the update surfaced the voice assistant
        whole = oracle.by_version(cars, component, frm, to)
        old, new = (whole[v] for v in (HU_OLD, HU_NEW))
        share = {k: g["features"][SURFACED]["adopters"] / g["active"] for k, g in
                 (("old", old), ("new", new))}
        assert share["new"] > share["old"]


async def test_stored_periods_are_refreshed_per_vehicle(fleet: dict[str, Any]) -> None:
    """A vehicle's stored periods, lost or stale, come back with a refresh of that vehicle
    alone; the fleet figures read from them equal the truth again."""
    conn, cars = fleet["conn"], fleet["cars"]
    to = fleet["as_of"] - timedelta(days=1)
    frm = to - timedelta(days=29)
    async with conn.transaction():
        await usage_windows.refresh(conn, to, None)
    cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (cars[0].vin,))
    vid = (await cur.fetchone() or (0,))[0]
    await conn.execute("DELETE FROM feature_windows WHERE vehicle_id = %s", (vid,))
    await conn.execute("UPDATE usage_windows SET drive_s = 0 WHERE vehicle_id = %s", (vid,))
    await conn.execute("DELETE FROM version_windows WHERE vehicle_id = %s", (vid,))
    want = oracle.fleet(cars, lambda c: c.model, frm, to)
    by_version = oracle.by_version(cars, "head_unit", frm, to)

    async def adopters() -> tuple[dict[str, int], dict[str, int]]:
        got = await insights.feature_insights(conn, "model", frm, to)
        versions, stored = await version_insights_from(conn, "software_version", frm, to)
        assert stored
        return ({g["group"]: sum(f["adopters"] for f in g["features"].values()) for g in got},
                {g["group"]: g["active"] for g in versions})
    truth = ({g: sum(f["adopters"] for f in w["features"].values()) for g, w in want.items()},
             {g: w["active"] for g, w in by_version.items()})
    stale = await adopters()
    assert stale[0] != truth[0] and stale[1] != truth[1], "the stale rows are what is read"
    async with conn.transaction():
        await usage_windows.refresh(conn, to, [vid])
    assert await adopters() == truth
