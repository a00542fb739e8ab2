"""Traction-battery health against the simulator's truth: packs that age normally (2 points
a year), weak packs that lose 8 points a year and fall below the service threshold, and
weak packs the dealer repairs (a new trend from the repair). Every vehicle's daily readings,
its trend (the least-squares slope of the truth's own daily values, and within a point a
year of the rate the simulator meant), the projection, and the fleet's distribution by model
and by age equal the truth; the messages arrive with duplicates, reordering, outages caught
up later and a tenth of them held back to the end."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from features import battery_health as bh
from localservices import drop_database
from simulator.fleet import make_fleet
from tests.direct_ingest import load_fleet

VEHICLES, DAYS, SEED = 48, 60, 37


@pytest.fixture(scope="module")
async def fleet() -> AsyncIterator[dict[str, Any]]:
    start = date.today() - timedelta(days=DAYS + 2)
    specs = make_fleet(VEHICLES, DAYS, start, SEED, can_share=0.1, pb_share=0.1)
    loaded = await load_fleet(specs, start, DAYS, SEED, 3600)
    evs = {vin: v for vin, v in loaded.truth["vehicles"].items()
           if "soh_per_year" in v["meta"]}
    yield {"conn": loaded.conn, "evs": evs, "as_of": start + timedelta(days=DAYS - 1)}
    await loaded.conn.close()
    drop_database(loaded.url)


def _readings(v: dict[str, Any], as_of: date) -> list[tuple[date, float]]:
    lo = as_of - timedelta(days=bh.WINDOW_DAYS)
    return [(date.fromisoformat(d), t["soh"]) for d, t in sorted(v["days"].items())
            if t["soh"] is not None and lo < date.fromisoformat(d) <= as_of]


def _oracle(v: dict[str, Any], as_of: date) -> dict[str, Any] | None:
    """The trend read from the truth: daily values since the last rise of over 2 points."""
    r = _readings(v, as_of)
    if not r:
        return None
    rises = [i for i in range(1, len(r)) if r[i][1] - r[i - 1][1] > 2]
    since = r[rises[-1]:] if rises else r
    per_year = None
    if len(since) >= 5 and (since[-1][0] - since[0][0]).days >= 14:
        x = np.array([(d - as_of).days for d, _ in since], dtype=float)
        per_year = float(np.polyfit(x, np.array([s for _, s in since]), 1)[0]) * 365
    return {"since": since[0][0], "latest": since[-1], "per_year": per_year}


def _meant(v: dict[str, Any], since: date) -> float:
    """The rate the simulator meant from ``since`` on."""
    return float([rate for day, rate in v["meta"]["soh_per_year"]
                  if date.fromisoformat(day) <= since][-1])


def test_the_fleet_has_the_situations(fleet: dict[str, Any]) -> None:
    rates = [r for v in fleet["evs"].values() for _, r in v["meta"]["soh_per_year"]]
    assert 2.0 in rates and 8.0 in rates, "normal and weak packs"
    assert any(len(v["meta"]["soh_per_year"]) > 1 for v in fleet["evs"].values()), \
        "a weak pack repaired by the dealer"
    below = [v for v in fleet["evs"].values() if any(s < bh.threshold() for _, s in
                                                     _readings(v, fleet["as_of"]))]
    assert below, "a pack below the service threshold"


async def test_each_vehicle_s_health_and_trend_equal_the_truth(fleet: dict[str, Any]) -> None:
    conn, as_of = fleet["conn"], fleet["as_of"]
    trends = 0
    for vin, v in fleet["evs"].items():
        cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
        row = await cur.fetchone()
        got = await bh.vehicle_battery(conn, row[0], as_of)
        assert [(x["day"], x["soh_pct"]) for x in got["readings"]] == \
            [(d.isoformat(), s) for d, s in _readings(v, as_of)], vin
        want = _oracle(v, as_of)
        if want is None:
            assert got["latest"] is None, vin
            continue
        assert got["latest"] == {"day": want["latest"][0].isoformat(),
                                 "soh_pct": want["latest"][1]}, vin
        assert got["trend_since"] == want["since"].isoformat(), vin
        assert got["below_threshold"] == (want["latest"][1] < bh.threshold()), vin
        if want["per_year"] is None:
            assert got["trend_pct_per_year"] is None, vin
            continue
        assert got["trend_pct_per_year"] == pytest.approx(want["per_year"], abs=0.001), vin
        if (want["latest"][0] - want["since"]).days >= 40:
            assert got["trend_pct_per_year"] == pytest.approx(-_meant(v, want["since"]),
                                                              abs=1.0), vin
            trends += 1
        proj = got["projected_below_threshold_on"]
        if want["latest"][1] >= bh.threshold() and want["per_year"] < 0:
            days = (want["latest"][1] - bh.threshold()) / (-want["per_year"] / 365)
            assert proj == (want["latest"][0] + timedelta(days=round(days))).isoformat(), vin
        else:
            assert proj is None, vin
    assert trends >= 5


def _rank(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(1, math.ceil(len(values) * q)) - 1]


@pytest.mark.parametrize("by", ["model", "age"])
async def test_the_fleet_distribution_equals_the_truth(fleet: dict[str, Any], by: str) -> None:
    as_of = fleet["as_of"]
    groups: dict[str, list[float]] = {}
    for v in fleet["evs"].values():
        want = _oracle(v, as_of)
        if want is None:
            continue
        years = (as_of - date.fromisoformat(v["meta"]["delivered_on"])).days / 365.25
        key = v["meta"]["model"] if by == "model" else \
            [n for lo, n in bh.AGE_BANDS if years >= lo][-1]
        groups.setdefault(key, []).append(want["latest"][1])
    got = await bh.fleet_battery(fleet["conn"], by, as_of)  # type: ignore[arg-type]
    assert {g["group"]: (g["vehicles"], g["soh_median"], g["soh_p10"], g["soh_p90"],
                         g["below_threshold"]) for g in got} == {
        k: (len(x), _rank(x, 0.5), _rank(x, 0.1), _rank(x, 0.9),
            sum(1 for s in x if s < bh.threshold())) for k, x in groups.items()}
    if by == "age":
        assert len(got) >= 2, "several age bands"
