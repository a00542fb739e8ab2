"""Silent cars and the activity x maturity matrix against the simulator's truth: boxes
that stop sending anything have their days settle on the wall clock (activity moves on to
declining, lapsing, dormant with churn warnings) and one ``vehicle_silent`` event each; cars
that still send (parked ones send heartbeats) are not silent; a car whose backlog arrives
late is corrected to exactly the history of live ingestion, with the corrections flagged.
The matrix and the movements between two days equal counts computed from the truth, per
vehicle and per owner (companies with several cars, cars sold during the run, owners first
registered under a duplicate id and merged), and every owner's cell on every day too."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from features import engagement as engagement_store
from features import matrix, owner_cells, owners
from features.engine import Deriver, DeriveSettings
from features.segments import activity_rules
from gateway.decode import decode_envelope
from gateway.schema import migrate
from localservices import create_database, drop_database
from simulator import cells
from simulator.engagement import app_engagement
from simulator.fleet import make_fleet
from simulator.owners import mix_owners
from simulator.stream import Faults, Outgoing, fleet_stream
from simulator.truth import FleetTruth
from simulator.vehicle import FADE_DAYS
from tests.direct_ingest import derive_all, register_fleet
from timeseries.db import connect
from timeseries.writer import BatchWriter

pytestmark = pytest.mark.live
# OWNER_FLEET=240x180 runs the same checks on a larger fleet (on demand, hours: see
# docs/profiles.md "How this is checked")
VEHICLES, DAYS = (int(x) for x in os.environ.get("OWNER_FLEET", "24x60").split("x"))
SEED = 41
ACTIVE_WITHIN = activity_rules().active_within
SETTLE = timedelta(hours=1)
EARLY = "early_engagement"  # the app events posted before the telemetry


async def _ingest(writer: BatchWriter, deriver: Deriver, msgs: list[Outgoing]) -> None:
    """As live ingestion: each message received when it was sent; derivation every few
    batches (less often for a large fleet, as the gateway's timer does under load)."""
    every = max(8, VEHICLES // 3)
    for i in range(0, len(msgs), 500):
        await writer.write_isolating([decode_envelope(m.topic, m.payload, m.send_ms)
                                      for m in msgs[i:i + 500]])
        if i // 500 % every == every - 1:
            await deriver.run_pending(1000)
    await derive_all(deriver)


def _history(truth: dict[str, Any], vin: str, end: date, before: str = "9999",
             engagement: str = "engagement") -> dict[str, str]:
    """The activity of each day up to ``end`` from the truth's days before ``before`` and
    the owners' engagement (all of it, or ``early_engagement``: what was posted early)."""
    return cells.activity(truth, vin, end, truth[engagement], before)


def _wall_settled(now: datetime, tz: str) -> date:
    return (now - SETTLE).astimezone(ZoneInfo(tz)).date() - timedelta(days=1)


@pytest.fixture(scope="module")
async def silent_fleet() -> AsyncIterator[dict[str, Any]]:
    start = date.today() - timedelta(days=DAYS + 2)
    fleet = mix_owners(make_fleet(VEHICLES, DAYS, start, SEED, silent_share=0.3,
                                  fading_share=0.2), DAYS, start, SEED, transfer_share=0.1)
    truth = FleetTruth()
    msgs = list(fleet_stream(fleet, start, DAYS, SEED, 3600, Faults(duplicates=0.02,
                                                                    reorder=0.02, gaps=0.005),
                             truth, sample_s=10))
    app_engagement(fleet, start, DAYS, SEED, truth)
    tj = truth.to_json()
    late_from = (start + timedelta(days=DAYS - 25)).isoformat()
    tj["early_engagement"] = {o: [e for e in es if e["at"] < late_from]
                              for o, es in tj["engagement"].items()}
    silent = {s.vin for s in fleet if s.silent_from_day is not None}
    late = next(s for s in fleet if s.silent_from_day is None and s.dormant_from_day is None
                and s.offline_from_day is None and s.fading_from_day is None)
    cut = int(datetime.combine(start + timedelta(days=DAYS - 20), datetime.min.time(),
                               ZoneInfo(late.tz)).timestamp() * 1000)
    held = [m for m in msgs if late.vin in m.topic and m.send_ms >= cut]
    live = [m for m in msgs if not (late.vin in m.topic and m.send_ms >= cut)]
    url = create_database()
    conn = await connect(url)
    layout = await migrate(conn)
    await register_fleet(conn, tj["vehicles"])
    # registered when the simulated period began (registration sets last contact to now)
    await conn.execute("UPDATE vehicles SET last_seen = %s",
                       (datetime.combine(start, datetime.min.time(), UTC),))
    owners_before_merge = await _owner_ids(conn)
    for spec in fleet:  # the platform found the duplicates
        if spec.registered_as:
            async with conn.transaction():
                await owners.merge(conn, spec.owner_id, [spec.registered_as])
    await _post(conn, tj["early_engagement"], SEED)
    dconn = await connect(url)
    deriver = Deriver(dconn, DeriveSettings(silent_hours=48))
    await _ingest(BatchWriter(conn, layout), deriver, live)
    now = datetime.fromtimestamp(max(m.send_ms for m in live) / 1000, UTC) + SETTLE
    settled = await deriver.settle_by_clock(now)
    state: dict[str, Any] = {"url": url, "truth": tj, "silent": silent, "late": late.vin,
                             "now": now, "settled": settled,
                             "cut_day": (start + timedelta(days=DAYS - 20)).isoformat()}
    state["before"] = await _segments(url)
    state["events_before"] = await _events(url)
    await _ingest(BatchWriter(conn, layout), deriver, held)
    await deriver.settle_by_clock(now)  # the late car sent again: it is not silent now
    state["after"] = await _segments(url)
    state["events_after"] = await _events(url)
    state["owners_before_merge"] = owners_before_merge
    # the app's last weeks arrive late, shuffled, with the early batches sent again
    state["reposted"] = await _post(conn, tj["engagement"], SEED + 1)
    await derive_all(deriver)
    await deriver.settle_by_clock(now)
    state["final"] = await _segments(url)
    state["events_final"] = await _events(url)
    await conn.close()
    await dconn.close()
    yield state
    drop_database(url)


async def _post(conn: Any, engagement: dict[str, list[dict[str, Any]]], seed: int
                ) -> tuple[int, int]:
    """Post every owner's events in shuffled batches of up to 50; (events sent, new)."""
    rng = random.Random(seed)
    sent = new = 0
    for owner, events in sorted(engagement.items()):
        events = [*events, *rng.sample(events, len(events) // 5)]  # some sent twice
        rng.shuffle(events)
        for i in range(0, len(events), 50):
            batch = engagement_store.parse({"events": events[i:i + 50]}, datetime.now(UTC))
            async with conn.transaction():
                _, n = await engagement_store.add(conn, owner, batch)
            sent, new = sent + len(batch), new + n
    return sent, new


async def _owner_ids(conn: Any) -> list[str]:
    cur = await conn.execute("SELECT DISTINCT owner_id FROM ownership_periods ORDER BY 1")
    return [r[0] for r in await cur.fetchall()]


async def _segments(url: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    async with await connect(url) as conn:
        cur = await conn.execute("SELECT v.vin, s.day, s.activity FROM segment_days s"
                                 " JOIN vehicles v ON v.id = s.vehicle_id")
        for vin, day, activity in await cur.fetchall():
            out.setdefault(vin, {})[day.isoformat()] = activity
    return out


async def _events(url: str) -> list[tuple[str, dict[str, Any]]]:
    async with await connect(url) as conn:
        cur = await conn.execute("SELECT type, payload FROM feed_events WHERE type IN"
                                 " ('vehicle_silent', 'segment_changed') ORDER BY id")
        return list(await cur.fetchall())


async def test_silent_cars_settle_on_the_wall_clock_as_the_truth_says(
        silent_fleet: dict[str, Any]) -> None:
    truth, now = silent_fleet["truth"], silent_fleet["now"]
    assert len(silent_fleet["silent"]) >= 4
    got = silent_fleet["before"]
    for vin, v in truth["vehicles"].items():
        last = date.fromisoformat(max(v["days"]))
        if vin in silent_fleet["silent"]:
            want = _history(truth, vin, _wall_settled(now, v["meta"]["timezone"]),
                            engagement=EARLY)
        elif vin == silent_fleet["late"]:  # its last 20 days not received yet
            want = _history(truth, vin, _wall_settled(now, v["meta"]["timezone"]),
                            silent_fleet["cut_day"], EARLY)
        else:
            want = _history(truth, vin, last - timedelta(days=1), engagement=EARLY)
        assert got[vin] == want, vin
    labels = {got[vin][max(got[vin])] for vin in silent_fleet["silent"]}
    assert {"lapsing", "dormant"} & labels  # the unplugged boxes drifted away


async def test_one_silent_event_per_silent_car_and_churn_warnings_on_their_days(
        silent_fleet: dict[str, Any]) -> None:
    events = silent_fleet["events_before"]
    silent = sorted(p["vin"] for kind, p in events if kind == "vehicle_silent")
    assert silent == sorted(silent_fleet["silent"] | {silent_fleet["late"]})
    for vin in silent_fleet["silent"]:
        hist = silent_fleet["before"][vin]
        days = sorted(hist)
        want = {(d, hist[p], hist[d]) for p, d in pairwise(days)
                if hist[p] != hist[d]}
        got = {(p["day"], p["from"], p["to"]) for kind, p in events
               if kind == "segment_changed" and p["vin"] == vin}
        assert got == want, vin
        assert all(p["churn_warning"] == (p["to"] in ("lapsing", "dormant"))
                   for kind, p in events if kind == "segment_changed" and p["vin"] == vin)


async def test_the_feed_read_by_day_tells_the_truth_and_every_churn_warning(
        silent_fleet: dict[str, Any]) -> None:
    """The whole feed at the end, read by day (a day takes the label of the last event about
    it, or else of the day before), tells every vehicle's history as the truth has it, and
    every move of the truth into lapsing or dormant is a churn warning on its day."""
    truth, ends, events = silent_fleet["truth"], _ends(silent_fleet), silent_fleet["events_final"]
    warned: set[tuple[str, str, str]] = set()
    for kind, p in events:
        if kind == "segment_changed":
            assert p["churn_warning"] == (p["to"] in ("lapsing", "dormant")), p
            if p["churn_warning"]:
                warned.add((p["vin"], p["day"], p["to"]))
    moves = 0
    for vin in truth["vehicles"]:
        want = _history(truth, vin, ends[vin])
        for day, view in _read_by_day(events, vin, want).items():
            assert view in (None, want[day]), (vin, day, view, want[day])
        churn = {(vin, d, want[d]) for p, d in pairwise(sorted(want))
                 if want[p] != want[d] and want[d] in ("lapsing", "dormant")}
        assert churn <= warned, (vin, churn - warned)
        moves += len(churn)
    assert moves > 0


async def test_a_late_backlog_corrects_the_history_to_that_of_live_ingestion(
        silent_fleet: dict[str, Any]) -> None:
    vin = silent_fleet["late"]
    v = silent_fleet["truth"]["vehicles"][vin]
    last = date.fromisoformat(max(v["days"]))
    before, after = silent_fleet["before"][vin], silent_fleet["after"][vin]
    # exactly as if it had been live
    assert after == _history(silent_fleet["truth"], vin, last - timedelta(days=1),
                             engagement=EARLY)
    assert before != after  # the wall clock had moved it on while its data was missing
    corrections = [p for kind, p in silent_fleet["events_after"][
        len(silent_fleet["events_before"]):] if kind == "segment_changed" and p["vin"] == vin]
    assert corrections and all(p["correction"] for p in corrections
                               if before.get(p["day"]) not in (None, p["to"]))
    for other in silent_fleet["silent"]:  # nothing changed for the cars still silent
        assert silent_fleet["after"][other] == silent_fleet["before"][other]
    # reading the feed by day (the latest event of each day) gives the corrected history
    for day, view in _read_by_day(silent_fleet["events_after"], vin, after).items():
        assert view in (None, after[day]), day


def _read_by_day(events: list[tuple[str, dict[str, Any]]], vin: str,
                 days: Iterable[str]) -> dict[str, str | None]:
    """What the feed tells of ``vin`` on each of ``days``: the label of the last
    ``segment_changed`` event about that day, or else of the day before (None before any)."""
    told = {p["day"]: p["to"] for kind, p in events
            if kind == "segment_changed" and p["vin"] == vin}
    out: dict[str, str | None] = {}
    view = None
    for day in sorted(days):
        view = out[day] = told.get(day, view)
    return out


def _ends(state: dict[str, Any]) -> dict[str, date]:
    """The last settled day of each vehicle: the wall clock's for silent cars."""
    truth, now = state["truth"], state["now"]
    return {vin: _wall_settled(now, v["meta"]["timezone"]) if vin in state["silent"]
            else date.fromisoformat(max(v["days"])) - timedelta(days=1)
            for vin, v in truth["vehicles"].items()}


def _acts(state: dict[str, Any], ends: dict[str, date]) -> dict[str, dict[str, str]]:
    truth = state["truth"]
    return {vin: _history(truth, vin, ends[vin]) for vin in truth["vehicles"]}


def _want(state: dict[str, Any], by: str, day: date, ends: dict[str, date],
          acts: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """The truth's cells on ``day``, per vehicle or per owner (simulator/cells.py)."""
    acts = acts or _acts(state, ends)
    if by == "vehicle":
        return cells.vehicle_cells(state["truth"], day, acts)
    return cells.owner_cells(state["truth"], day, acts)


async def test_matrix_and_transitions_equal_counts_from_the_truth(
        silent_fleet: dict[str, Any]) -> None:
    """On two days of the run: the cells of the matrix and the movements between them, per
    vehicle and per owner, equal to those computed from the truth."""
    truth = silent_fleet["truth"]
    ends = _ends(silent_fleet)
    last = min(ends.values())
    first = last - timedelta(days=25)
    async with await connect(silent_fleet["url"]) as conn:
        for by in ("vehicle", "owner"):
            want_then = _want(silent_fleet, by, first, ends)
            want_now = _want(silent_fleet, by, last, ends)
            print(f"{by} cells {first}: {sorted(Counter(want_then.values()).items())}; {last}:"
                  f" {sorted(Counter(want_now.values()).items())}")
            then, unsettled = await matrix.members(conn, first, by, None, None)
            now_, _ = await matrix.members(conn, last, by, None, None)
            assert {m.key: m.cell for m in then} == want_then, by
            assert {m.key: m.cell for m in now_} == want_now, by
            assert unsettled == len(truth["vehicles"]) - len(_want(silent_fleet, "vehicle",
                                                                   first, ends))
            counts = matrix.count(now_)
            for cell in set(want_now.values()):
                a, m = cell.split("/")
                assert counts[a][m]["count"] == sum(c == cell for c in want_now.values())
                assert counts[a][m]["strategy"] == matrix.strategy(a, m)
            moves = matrix.movements(then, now_)
            want_moves: dict[str, dict[str, int]] = {}
            for key, cell in want_now.items():
                if key in want_then:
                    row = want_moves.setdefault(want_then[key], {})
                    row[cell] = row.get(cell, 0) + 1
            assert moves == want_moves, by
            lapsed = [(f, t) for f, row in want_moves.items() for t in row
                      if f.startswith("active") and not t.startswith("active")]
            assert lapsed  # someone drifted away between the two days (the unplugged boxes)
            f, t = lapsed[0]
            assert matrix.who_moved(then, now_, f, t) == sorted(
                k for k in want_now if want_then.get(k) == f and want_now[k] == t)
    events = [p for kind, p in silent_fleet["events_before"] if kind == "segment_changed"]
    assert events and all(p["strategy"] == matrix.strategy(p["to"], p["maturity"])
                          for p in events)


async def test_every_vehicles_and_owners_cell_equals_the_truth_on_every_day(
        silent_fleet: dict[str, Any]) -> None:
    """Companies with several cars, cars sold during the run (the new owner starts as a
    novice, the seller keeps the lifetime), duplicate ids merged: every day of the run."""
    truth = silent_fleet["truth"]
    specs = [v["meta"] for v in truth["vehicles"].values()]
    assert sum(len(m["ownership"]) > 1 for m in specs) >= 2
    assert any(m["registered_as"] != m["owner_id"] for m in specs)
    companies = Counter(m["owner_id"] for m in specs if m["owner_type"] != "private")
    assert companies and max(companies.values()) >= 2
    dups = {m["registered_as"] for m in specs if m["registered_as"] != m["owner_id"]}
    assert dups <= set(silent_fleet["owners_before_merge"])  # known apart until merged
    ends = _ends(silent_fleet)
    start = date.fromisoformat(min(min(v["days"]) for v in truth["vehicles"].values()))
    seen_cells: set[str] = set()
    checked = 0
    acts = _acts(silent_fleet, ends)
    async with await connect(silent_fleet["url"]) as conn:
        day = start
        while day <= min(ends.values()):  # every vehicle settled
            vehicles, _ = await matrix.members(conn, day, "vehicle", None, None)
            assert {m.key: m.cell for m in vehicles} == _want(
                silent_fleet, "vehicle", day, ends, acts), day
            want = _want(silent_fleet, "owner", day, ends, acts)
            got = await owner_cells.owner_days(conn, day)
            assert {k: f"{o.activity}/{o.maturity(day)}" for k, o in got.items()
                    if o.activity is not None} == want, day
            seen_cells.update(want.values())
            day += timedelta(days=1)
            checked += 1
        for dup in dups:
            assert (await owners.record(conn, dup) or {})["owner_id"] != dup
    sold = {vin for vin, v in truth["vehicles"].items() if len(v["meta"]["ownership"]) > 1}
    for kind, p in silent_fleet["events_final"]:  # attributed to the owner of that day
        if kind == "segment_changed":
            day_ = date.fromisoformat(p["day"])
            assert p["owner_id"] == next(o for o, lo, hi in cells.periods(truth["vehicles"][
                p["vin"]])
                                         if lo <= day_ and (hi is None or day_ < hi)), p
    assert any(p["vin"] in sold for kind, p in silent_fleet["events_final"])
    owner_ids = {p["owner_id"] for m in specs for p in m["ownership"]}
    print(f"{len(specs)} vehicles, {len(owner_ids)} owners ({len(companies)} companies,"
          f" {sum(len(m['ownership']) > 1 for m in specs)} cars sold, {len(dups)} duplicate"
          f" ids, {len(silent_fleet['silent'])} boxes unplugged), {checked} days checked;"
          f" owner cells seen: {sorted(seen_cells)}")
    assert any(c.endswith("/novice") for c in seen_cells)  # a new owner starts again


async def test_engagement_keeps_app_only_owners_active_and_late_events_correct_history(
        silent_fleet: dict[str, Any]) -> None:
    """Owners whose car stopped but who use the app: their days of engagement count, every
    vehicle's history after the late events equals the truth's with all of them, the
    re-sent events were stored once, and the changes are flagged as corrections."""
    truth = silent_fleet["truth"]
    ends = _ends(silent_fleet)
    total = sum(len(es) for es in truth["engagement"].values())
    early = sum(len(es) for es in truth[EARLY].values())
    sent, new = silent_fleet["reposted"]
    assert sent > total and new == total - early > 0  # each event id stored once
    final = silent_fleet["final"]
    changed = 0
    for vin in truth["vehicles"]:
        assert final[vin] == _history(truth, vin, ends[vin]), vin
        without = cells.activity(truth, vin, ends[vin], {})
        changed += final[vin] != without
    assert changed >= 2  # the app kept some owners from lapsing
    # owners who drove less and less, then stopped a week before the end: they drifted away
    # (in a short run a late fade has not ended yet)
    fading = {vin: v["meta"]["fading_from_day"] for vin, v in truth["vehicles"].items()
              if v["meta"]["fading_from_day"] is not None
              and v["meta"]["fading_from_day"] + FADE_DAYS + ACTIVE_WITHIN < DAYS}
    assert fading or DAYS < 60
    for vin, d in fading.items():
        start = date.fromisoformat(min(truth["vehicles"][vin]["days"])) + timedelta(days=d)
        assert {a for day, a in final[vin].items() if day >= start.isoformat()} - {"active"}
    late = [p for kind, p in silent_fleet["events_final"][len(silent_fleet["events_after"]):]
            if kind == "segment_changed"]
    bad = [(p, silent_fleet["after"][p["vin"]].get(p["day"])) for p in late if not p["correction"]
           and silent_fleet["after"][p["vin"]].get(p["day"]) not in (None, p["to"])]
    assert late and not bad, bad
