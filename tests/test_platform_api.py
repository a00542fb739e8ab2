"""Every platform endpoint through a real gateway process, on simulator data."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from features.profile import vehicle_profile_json
from features.profile_store import export_ndjson
from localservices import (
    ROOT,
    Broker,
    Gateway,
    create_database,
    drop_database,
    query,
    wait_until,
)
from simulator.fleet import make_fleet
from simulator.publish import Publisher
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from tests import feature_oracle as oracle
from timeseries.db import connect

pytestmark = pytest.mark.live
TOKENS = "cdp:read-token-123:read,dms:write-token-456:read+write,ops:admin-token-789:admin"
READ, WRITE, ADMIN = "read-token-123", "write-token-456", "admin-token-789"


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, token: str | None = READ, body: Any = None,
             content_type: str = "application/json") -> tuple[int, Any, dict[str, str]]:
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                raw = resp.read()
                return resp.status, _parse(raw, resp.headers["Content-Type"]), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, _parse(raw, exc.headers["Content-Type"]), dict(exc.headers)

    def get(self, path: str, token: str | None = READ) -> Any:
        status, body, _ = self.call("GET", path, token)
        assert status == 200, (path, status, body)
        return body


def _parse(raw: bytes, ctype: str | None) -> Any:
    if ctype and "json" in ctype and "ndjson" not in ctype:
        return json.loads(raw) if raw else None
    return raw.decode()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Api, Gateway, dict[str, Any]]]:
    work = tmp_path_factory.mktemp("platform")
    broker = Broker(work / "broker")
    broker.start()
    db = create_database()
    gw = Gateway(broker.url, db, work, api_tokens=TOKENS, client_id="gw-platform",
                 profile_refresh_s="1")
    gw.start()
    api = Api(gw.base)
    start = date.today() - timedelta(days=12)
    truth = FleetTruth()
    fleet = make_fleet(6, 10, start, 77)
    msgs = list(fleet_stream(fleet, start, 10, 77, 900, Faults(garbage=0.003), truth))
    meta = truth.to_json()["vehicles"]
    first, rest = next(iter(meta.items())), list(meta.items())[1:]
    reg = {k: first[1]["meta"][k] for k in ("model", "powertrain", "timezone", "delivered_on",
                                           "owner_id", "dealer_id", "home_lat", "home_lon")}
    status, body, _ = api.call("PUT", f"/v1/vehicles/{first[0]}", WRITE, reg)
    assert status == 200 and body["registered"] is True
    lines = [json.dumps({"vin": vin, **{k: v["meta"][k] for k in reg}}) for vin, v in rest]
    status, body, _ = api.call("POST", "/v1/vehicles:import", WRITE, "\n".join(lines),
                               "application/x-ndjson")
    assert (status, body) == (200, {"imported": len(rest)})
    pub = Publisher(broker.url)
    pub.publish(msgs)
    pub.close()
    n_messages = sum(v["messages"] for v in meta.values())
    wait_until(lambda: query(db, "SELECT count(*) FROM ingest_log")[0][0] >= n_messages, 120,
               "ingest")
    wait_until(lambda: query(db, "SELECT count(*) FROM dirty_hours")[0][0] == 0
               and query(db, "SELECT count(*) FROM vehicles WHERE activity IS NULL")[0][0] == 0,
               120, "derivations", every=0.5)
    yield api, gw, truth.to_json()
    gw.stop()
    broker.stop()
    drop_database(db)


def test_served_profiles_are_the_computed_ones(
        stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, gw, truth = stack
    db = gw.env["TELEMATICS_DB_URL"]
    today = datetime.now(UTC).date()
    # derived vehicles were marked, then refreshed within a second
    wait_until(lambda: query(db, "SELECT count(*) FROM profile_dirty")[0][0] == 0, 30,
               "profile refresh")
    snapshots = dict(query(db, "SELECT vehicle_id, body FROM profile_snapshots"
                               " WHERE window_days = 30 AND as_of = %s", (today,)))
    assert len(snapshots) == len(truth["vehicles"])

    async def live() -> dict[str, str]:
        async with await connect(db) as conn:
            return {vin: await vehicle_profile_json(conn, vin, 30, today) or ""
                    for vin in truth["vehicles"]}

    computed = asyncio.run(live())
    served = [json.loads(body) for body in snapshots.values()]
    assert {p["vin"]: p for p in served} == {v: json.loads(b) for v, b in computed.items()}
    exported = api.get("/v1/profiles?window=30")
    assert exported.splitlines() == [snapshots[k] for k in sorted(snapshots)]

    async def in_chunks_of_two() -> list[bytes]:
        async with await connect(db) as conn:
            return [c async for c in export_ndjson(conn, 30, today, chunk_rows=2)]

    chunks = asyncio.run(in_chunks_of_two())  # several chunks, each ending with a newline
    assert len(chunks) == (len(snapshots) + 1) // 2 and all(c.endswith(b"\n") for c in chunks)
    assert b"".join(chunks).decode() == exported
    one = next(iter(truth["vehicles"]))
    assert api.get(f"/v1/vehicles/{one}/profile?window=30") == json.loads(computed[one])
    rows = list(csv.DictReader(io.StringIO(api.get("/v1/profiles?window=30&format=csv"))))
    assert {r["vin"]: float(r["km_total"]) for r in rows} == \
        {p["vin"]: p["km_total"] for p in served}


def test_auth(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, _ = stack
    assert api.call("GET", "/v1/vehicles", None)[0] == 401
    assert api.call("GET", "/v1/vehicles", "wrong-token-000")[0] == 401
    status, body, _ = api.call("PUT", "/v1/vehicles/WVWZZZ1JZXW000001", READ, {})
    assert status == 403 and "'write'" in body["detail"]
    assert api.call("GET", "/v1/webhooks", WRITE)[0] == 403
    assert api.call("GET", "/v1/webhooks", ADMIN)[0] == 200
    for open_path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs"):
        assert api.call("GET", open_path, None)[0] == 200, open_path


def test_vehicles_profiles_trips_daily(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, truth = stack
    vin, v = next(iter(truth["vehicles"].items()))
    got = api.get(f"/v1/vehicles/{vin}")
    assert got["registered"] and got["owner_id"] == v["meta"]["owner_id"]
    last_day = max(v["days"])
    assert got["odometer_km"] == pytest.approx(v["days"][last_day]["final_odometer_km"])
    assert got["activity"] in ("active", "declining", "lapsing", "dormant")
    assert got["position"]["latitude"] is not None
    page1 = api.get("/v1/vehicles?limit=4")
    page2 = api.get(f"/v1/vehicles?limit=4&cursor={page1['next']}")
    assert len(page1["items"]) + len(page2["items"]) == 6 and page2["next"] is None
    dealer = v["meta"]["dealer_id"]
    assert vin in [x["vin"] for x in api.get(f"/v1/vehicles?dealer_id={dealer}")["items"]]
    assert api.call("GET", "/v1/vehicles?segment=sleepy")[0] == 400

    days = sorted(v["days"])
    daily = api.get(f"/v1/vehicles/{vin}/daily?from={days[0]}&to={days[-1]}")["items"]
    by_day = {d["day"]: d for d in daily}
    for day in days:
        assert by_day[day]["trips"] == len(v["days"][day]["trips"])
        assert by_day[day]["km"] == pytest.approx(v["days"][day]["km"], rel=0.005, abs=0.01)
    trips = api.get(f"/v1/vehicles/{vin}/trips?from={days[0]}")["items"]
    assert [t["start_ms"] for t in trips] == [t["start_ms"] for d in days
                                               for t in v["days"][d]["trips"]]
    prof = api.get(f"/v1/vehicles/{vin}/profile?window=7&as_of={last_day}")
    week = [str(date.fromisoformat(last_day) - timedelta(days=i)) for i in range(7)]
    assert prof["trips"] == sum(len(v["days"][d]["trips"]) for d in week if d in v["days"])
    assert api.call("GET", f"/v1/vehicles/{vin}/profile?window=8")[0] == 400
    assert api.call("GET", f"/v1/vehicles/{vin}/profile?as_of=yesterday")[0] == 400

    ndjson = api.get(f"/v1/profiles?window=30&as_of={last_day}")
    rows = [json.loads(line) for line in ndjson.splitlines()]
    assert sorted(r["vin"] for r in rows) == sorted(truth["vehicles"])
    text = api.get(f"/v1/profiles?window=30&as_of={last_day}&format=csv")
    assert len(list(csv.DictReader(io.StringIO(text)))) == 6

    t0 = trips[0]["start_ms"]
    b = api.get(f"/v1/vehicles/{vin}/signals?name=Vehicle.Speed&from={t0}&to={t0 + 600_000}"
                "&bucket=1m")
    assert b["buckets"] and all(x["min"] <= x["avg"] <= x["max"] for x in b["buckets"])
    assert api.call("GET", f"/v1/vehicles/{vin}/signals?name=Vehicle.Speed&bucket=2m")[0] == 400


def test_cockpit_features_and_insights(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, gw, truth = stack
    cars = [oracle.Car.of(vin, v) for vin, v in truth["vehicles"].items()]
    as_of = max(max(c.drive_s) for c in cars) - timedelta(days=1)
    for car in cars:
        got = api.get(f"/v1/vehicles/{car.vin}/features?as_of={as_of}")
        want = oracle.vehicle(car, as_of)
        assert {f["feature"] for f in got["features"]} == set(want), car.vin
        for f in got["features"]:
            w = want[f["feature"]]
            assert f["first_use_day"] == w["first_day"].isoformat()
            assert f["discovery_days"] == w["discovery_days"]
            assert {k: (x["uses"], x["minutes"]) for k, x in f["windows"].items()} == {
                k: (x["uses"], x["minutes"]) for k, x in w["windows"].items()}
            assert f["retained"] == (w["weeks"] >= 3)
    frm = as_of - timedelta(days=6)
    got = api.get(f"/v1/insights/features?by=model&from={frm}&to={as_of}")
    want = oracle.fleet(cars, lambda c: c.model, frm, as_of)
    assert {g["group"]: (g["active"], {k: f["adopters"] for k, f in g["features"].items()
                                       if f["adopters"]}) for g in got["groups"]} == {
        k: (w["active"], {f: x["adopters"] for f, x in w["features"].items() if x["adopters"]})
        for k, w in want.items()}
    assert got["computed_from"] == "days"
    # the default period (the 30 days ending yesterday, UTC) is read from the stored periods,
    # which the gateway refreshed for the derived vehicles
    wait_until(lambda: query(gw.env["TELEMATICS_DB_URL"],
                             "SELECT count(*) FROM profile_dirty")[0][0] == 0, 30, "refresh")
    got = api.get("/v1/insights/features?by=model")
    to = date.fromisoformat(got["to"])
    want = oracle.fleet(cars, lambda c: c.model, to - timedelta(days=29), to)
    assert got["computed_from"] == "stored_periods"
    assert {g["group"]: (g["active"], {k: (f["adopters"], f["uses"])
                                       for k, f in g["features"].items() if f["adopters"]})
            for g in got["groups"]} == {
        k: (w["active"], {f: (x["adopters"], x["uses"]) for f, x in w["features"].items()
                          if x["adopters"]}) for k, w in want.items()}
    got = api.get("/v1/insights/features?by=software_version")
    want = oracle.by_version(cars, "head_unit", to - timedelta(days=29), to)
    assert got["computed_from"] == "stored_periods"
    assert {g["group"]: (g["active"], {k: f["adopters"] for k, f in g["features"].items()})
            for g in got["groups"]} == {
        k: (w["active"], {f: x["adopters"] for f, x in w["features"].items()})
        for k, w in want.items()}
    feature = "navigation.route_guidance"
    lines = api.get(f"/v1/insights/features/{feature}/never-used").splitlines()
    never = sorted(c.vin for c in cars if feature not in c.uses)
    assert [json.loads(x)["vin"] for x in lines] == never
    text = api.get(f"/v1/insights/features/{feature}/never-used?format=csv")
    assert [r["vin"] for r in csv.DictReader(io.StringIO(text))] == never
    body = api.get(f"/v1/insights/features/{feature}/retention?to={as_of}")
    assert body["feature"] == feature and isinstance(body["cohorts"], list)
    assert api.call("GET", "/v1/insights/features/nav/retention")[0] == 400
    assert api.call("GET", "/v1/insights/features?by=colour")[0] == 400
    assert api.call("GET", f"/v1/insights/features?from={as_of}&to={frm}")[0] == 400


def test_software_versions(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, truth = stack
    cars = [oracle.Car.of(vin, v) for vin, v in truth["vehicles"].items()]
    updates = 0
    for vin, v in truth["vehicles"].items():
        got = api.get(f"/v1/vehicles/{vin}/software")
        want = v["meta"]["software"]
        assert [(h["component"], h["version"], h["reports"]) for h in got["history"]] == [
            (c, e["version"], e["reports"]) for c in sorted(want) for e in want[c]], vin
        updates += sum(len(e) - 1 for e in want.values())
    feed = api.get("/v1/events?type=software_updated&limit=500")
    assert updates and len(feed["items"]) == updates
    as_of = max(max(c.drive_s) for c in cars)
    frm = as_of - timedelta(days=9)
    got = api.get(f"/v1/insights/features?by=software_version&from={frm}&to={as_of}")
    want = oracle.by_version(cars, "head_unit", frm, as_of)
    assert {g["group"]: g["active"] for g in got["groups"]} == {
        k: w["active"] for k, w in want.items()}
    model = cars[0].model
    got = api.get(f"/v1/insights/features?by=vehicle_software_version&model={quote(model)}"
                  f"&from={frm}&to={as_of}")
    want = oracle.by_version([c for c in cars if c.model == model], "vehicle", frm, as_of)
    assert got["model"] == model and {g["group"]: g["active"] for g in got["groups"]} == {
        k: w["active"] for k, w in want.items()}


def test_charging_sessions_and_refuels(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, truth = stack
    seen = 0
    for vin, v in truth["vehicles"].items():
        days = sorted(v["days"])
        window = f"from={days[0]}&to={days[-1]}"
        got = api.get(f"/v1/vehicles/{vin}/charging-sessions?{window}")
        want = [s for s in v["sessions"] if s["kind"] == "charge"]
        assert [(x["place"], x["current"], x["complete"]) for x in got["sessions"]] == \
            [(w["place"], w["current"], w["complete"]) for w in want], vin
        kwh = sum((w["end_level"] - w["start_level"]) / 100 * w["battery_kwh"] for w in want)
        assert got["summary"]["kwh_added"] == pytest.approx(kwh, rel=0.005, abs=0.01), vin
        got = api.get(f"/v1/vehicles/{vin}/refuels?{window}")
        want = [s for s in v["sessions"] if s["kind"] == "refuel"]
        assert [x["litres_added"] for x in got["sessions"]] == pytest.approx(
            [w["litres"] for w in want], rel=0.005), vin
        seen += len(v["sessions"])
    assert seen > 0, "the fleet charges or refuels"
    vin = next(iter(truth["vehicles"]))
    assert api.call("GET", f"/v1/vehicles/{vin}/refuels?from=2026-02-02&to=2026-02-01")[0] \
        == 400
    assert api.call("GET", "/v1/vehicles/WVWZZZ1JZXW999999/charging-sessions")[0] == 404


def test_service_book_and_events_feed(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, truth = stack
    vin, v = next(iter(truth["vehicles"].items()))
    before = api.get(f"/v1/vehicles/{vin}/service")
    assert before["status"] in ("ok", "due_soon", "overdue") and before["items"]
    odo = api.get(f"/v1/vehicles/{vin}")["odometer_km"]
    status, body, _ = api.call("POST", f"/v1/vehicles/{vin}/services", WRITE, {
        "done_on": max(v["days"]), "odometer_km": round(odo, 1),
        "items": ["inspection", "engine_oil", "cabin_filter", "brake_fluid", "tyre_rotation"],
        "dealer_id": "DLR-001"})
    assert status == 201
    after = api.get(f"/v1/vehicles/{vin}/service")
    assert after["status"] == "ok" and after["records"][-1]["id"] == body["id"]
    assert after["history"] == "known"
    status, body, _ = api.call("POST", f"/v1/vehicles/{vin}/services", WRITE,
                               {"done_on": "someday", "odometer_km": 1, "items": ["x"]})
    assert status == 400 and "done_on" in body["detail"]

    first = api.get("/v1/events?limit=2")
    assert len(first["items"]) <= 2
    everything = api.get("/v1/events?limit=1000")["items"]
    resumed = api.get(f"/v1/events?after={first['next']}&limit=1000")["items"]
    assert first["items"] + resumed == everything
    only = api.get("/v1/events?type=segment_changed&limit=1000")["items"]
    assert all(e["type"] == "segment_changed" for e in only)
    assert api.call("GET", "/v1/events?type=oil_leak")[0] == 400


def test_dead_letters_and_retry(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, truth = stack
    items = api.get("/v1/dead-letters?limit=1000")["items"]
    assert len(items) == len(truth["garbage"])
    one = items[0]
    status, body, _ = api.call("POST", f"/v1/dead-letters/{one['id']}:retry", ADMIN)
    assert status == 200 and body["outcome"] == "still_rejected"
    assert api.call("POST", "/v1/dead-letters/999999:retry", ADMIN)[0] == 404
    assert api.call("POST", f"/v1/dead-letters/{one['id']}:retry", WRITE)[0] == 403


def test_errors_are_problem_json(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, _ = stack
    status, body, headers = api.call("GET", "/v1/vehicles/WVWZZZ1JZXW999999")
    assert status == 404 and headers["Content-Type"].startswith("application/problem+json")
    status, body, _ = api.call("PUT", "/v1/vehicles/WVWZZZ1JZXW999999", WRITE, "{not json")
    assert status == 400 and "JSON" in body["detail"]
    status, body, _ = api.call("PUT", "/v1/vehicles/WVWZZZ1JZXW999999", WRITE,
                               {"powertrain": "steam"})
    assert status == 400 and "powertrain" in body["detail"]
    status, _, _ = api.call("PUT", "/v1/vehicles/WVWZZZ1JZXW999999", WRITE,
                            {"model": "x" * 2_000_000})
    assert status == 413


def test_owners_transfer_merge_and_lookup(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    """A company takes over a private owner's car, a duplicate id is merged into it, and
    the owner's layer answers by either id: vehicles and periods, cell, usage."""
    api, _, truth = stack
    cars = list(truth["vehicles"].items())
    (vin0, v0), (vin1, v1), (vin2, v2) = cars[:3]
    company, seller, dup = (v["meta"]["owner_id"] for v in (v0, v1, v2))
    status, body, _ = api.call("PUT", f"/v1/owners/{company}", WRITE,
                               {"type": "commercial_fleet", "channel": "app"})
    assert status == 200 and body["type"] == "commercial_fleet", body
    assert api.call("PUT", f"/v1/owners/{company}", WRITE, {"type": "fleet"})[0] == 400
    day = sorted(v1["days"])[5]
    reg = {k: v1["meta"][k] for k in ("model", "powertrain", "timezone", "delivered_on",
                                       "dealer_id")}
    status, body, _ = api.call("PUT", f"/v1/vehicles/{vin1}", WRITE,
                               {**reg, "owner_id": company, "owner_since": day})
    assert status == 200 and body["owner_id"] == company, body
    status, body, _ = api.call("PUT", f"/v1/vehicles/{vin1}", WRITE,
                               {**reg, "owner_id": seller, "owner_since": day})
    assert status == 400 and "owner_since" in body["detail"]  # not after the company's start
    events = api.get("/v1/events?type=ownership_transferred")["items"]
    assert [(e["data"]["vin"], e["data"]["from_owner_id"], e["data"]["to_owner_id"],
             e["data"]["day"]) for e in events] == [(vin1, seller, company, day)]

    status, body, _ = api.call("POST", f"/v1/owners/{company}/merge", WRITE,
                               {"duplicates": [dup]})
    assert (status, body["merged"], body["merged_from"]) == (200, [dup], [dup]), body
    assert api.call("POST", f"/v1/owners/{company}/merge", WRITE,
                    {"duplicates": [dup]})[1]["merged"] == []  # idempotent
    assert api.call("POST", f"/v1/owners/{dup}/merge", WRITE,
                    {"duplicates": [company]})[0] == 400  # the survivor itself
    other = cars[3][1]["meta"]["owner_id"]
    assert api.call("POST", f"/v1/owners/{other}/merge", WRITE,
                    {"duplicates": [dup]})[0] == 409  # already merged elsewhere
    assert api.get(f"/v1/vehicles/{vin2}")["owner_id"] == company

    last = max(v0["days"])
    got = api.get(f"/v1/owners/{dup}?as_of={last}")  # the merged id answers for the company
    assert (got["owner_id"], got["type"], got["channel"]) == (company, "commercial_fleet", "app")
    held = {(x["vin"], x["from"], x["to"]) for x in got["vehicles"]}
    assert held == {(vin0, v0["meta"]["delivered_on"], None), (vin1, day, None),
                    (vin2, v2["meta"]["delivered_on"], None)}
    assert got["lifetime"]["since"] == min(v0["meta"]["delivered_on"],
                                           v2["meta"]["delivered_on"])
    window = {str(date.fromisoformat(last) - timedelta(days=i)) for i in range(30)}
    want_km = sum(v["days"][d]["km"] for v in (v0, v2) for d in v["days"] if d in window) + \
        sum(v1["days"][d]["km"] for d in v1["days"] if d in window and d >= day)
    assert got["profile"]["km_total"] == pytest.approx(want_km, rel=0.005, abs=0.05)
    cells = {api.get(f"/v1/vehicles/{vin}")["activity"] for vin in (vin0, vin1, vin2)}
    order = ("active", "declining", "lapsing", "dormant")
    assert got["cell"]["activity"] == min(cells, key=order.index)
    sold = api.get(f"/v1/owners/{seller}?as_of={last}")
    assert sold["cell"]["activity"] is None  # holds nothing now
    assert [x["to"] for x in sold["vehicles"]] == [day]

    listed = api.get(f"/v1/owners?as_of={last}")
    assert {x["owner_id"] for x in listed["items"]} == {
        v["meta"]["owner_id"] for _, v in cars} - {dup}
    assert [(x["vehicles"], x["activity"]) for x in listed["items"]
            if x["owner_id"] == seller] == [(0, None)]  # a former owner, without a cell
    assert [x["owner_id"] for x in api.get(f"/v1/owners?as_of={last}&type=commercial_fleet")[
        "items"]] == [company]
    assert api.get(f"/v1/owners?as_of={last}&type=commercial_fleet")["items"][0]["vehicles"] == 3
    matrix = api.get(f"/v1/segments/matrix?as_of={last}&by=owner")
    assert matrix["total"] == listed["total"] - 1 == len(cars) - 2
    assert api.call("GET", "/v1/owners?segment=sleepy")[0] == 400
    assert api.call("GET", "/v1/owners?owner=x")[0] == 400
    assert api.call("GET", "/v1/owners/NOBODY-123")[0] == 404

    at = f"{last}T09:30:00Z"
    batch = {"events": [{"event_id": "app-1", "type": "app_opened", "at": at},
                        {"event_id": "app-2", "type": "remote_command", "at": at, "vin": vin2}]}
    path = f"/v1/owners/{dup}/engagement"  # posted under the duplicate id: the company's
    status, body, _ = api.call("POST", path, WRITE, batch)
    assert (status, body) == (200, {"owner_id": company, "received": 2, "new": 2,
                                     "duplicates": 0}), body
    assert api.call("POST", path, WRITE, batch)[1]["new"] == 0  # idempotent by event id
    status, body, _ = api.call("POST", path, WRITE, {"events": [
        {"event_id": "app-3", "type": "app_closed", "at": at}]})
    assert status == 400 and "events[0].type" in body["detail"]
    assert api.call("POST", path, WRITE, {"events": [
        {"event_id": "app-3", "type": "app_opened", "at": "2999-01-01T00:00:00Z"}]})[0] == 400
    assert api.call("POST", "/v1/owners/NOBODY-123/engagement", WRITE, batch)[0] == 404
    assert api.call("POST", path, READ, batch)[0] == 403
    got = api.get(f"/v1/owners/{company}?as_of={last}")
    assert got["profile"]["engagement"] == {"app_opened": 1, "remote_command": 1}

    # the company's lease of the third car ends without a successor (returned, exported)
    reg2 = {k: v2["meta"][k] for k in ("model", "powertrain", "timezone", "delivered_on",
                                        "dealer_id")}
    for _ in range(2):  # idempotent
        status, body, _ = api.call("PUT", f"/v1/vehicles/{vin2}", WRITE,
                                   {**reg2, "owner_id": company, "owner_until": last})
        assert status == 200, body
    before = str(date.fromisoformat(last) - timedelta(days=1))
    assert [x["holds"] for x in api.get(f"/v1/owners/{company}?as_of={before}")["vehicles"]
            if x["vin"] == vin2] == [True]
    assert [(x["to"], x["holds"]) for x in api.get(f"/v1/owners/{company}?as_of={last}")[
        "vehicles"] if x["vin"] == vin2] == [(last, False)]
    ended = [e["data"] for e in api.get("/v1/events?type=ownership_transferred")["items"]
             if e["data"]["vin"] == vin2]
    assert [(e["from_owner_id"], e["to_owner_id"], e["day"]) for e in ended] == [
        (company, None, last)]
    status, body, _ = api.call("PUT", f"/v1/vehicles/{vin2}", WRITE,
                               {**reg2, "owner_id": company, "owner_until": "2000-01-01"})
    assert status == 400 and "owner_until" in body["detail"], body


def test_schemathesis_finds_no_server_errors(stack: tuple[Api, Gateway, dict[str, Any]]) -> None:
    api, _, _ = stack
    done = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{api.base}/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
         "response_schema_conformance", "--max-examples", "15", "--seed", "1",
         "-H", f"Authorization: Bearer {ADMIN}", "--request-timeout", "20",
         "--phases", "examples,coverage,fuzzing"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:]
