"""Trouble codes: the contract's list signal and the per-code history (pure parts; the
service loop test checks them end to end against the simulator)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import msgpack
import pytest

from decoders.errors import Rejected
from decoders.registry import decode_message
from features.conditions import DTC_KEY, Tracker, load_conditions
from features.dtcs import code_states, codes_by_day

VIN = "LSVAU2180N2183294"
TOPIC = f"vehicles/{VIN}/telemetry"


def _decode(signals: dict[str, list[object]], rows: int) -> object:
    now = int(time.time() * 1000)
    doc = {"v": 1, "vin": VIN, "seq": 1, "t0": now - 60_000,
           "dt": [i * 1000 for i in range(rows)], "signals": signals}
    return decode_message(TOPIC, msgpack.packb(doc), now)


def test_a_report_per_row_sorted_and_once_each_and_bad_rows_named() -> None:
    r = _decode({"Vehicle.OBD.DTCList": [["P0302", "B1A00", "P0302"], None, [], ["p0300"],
                                         ["P030213"], "P0300"],
                 "Vehicle.Speed": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, 6)
    t0 = r.ts_ms[0]  # type: ignore[attr-defined]
    assert r.dtc_reports == [(t0, ("B1A00", "P0302")), (t0 + 2000, ()),  # type: ignore[attr-defined]
                             (t0 + 4000, ("P030213",))]
    details = [x.detail for x in r.rejections]  # type: ignore[attr-defined]
    assert [x.code for x in r.rejections] == ["bad_value", "bad_value"]  # type: ignore[attr-defined]
    assert "DTCList[3]" in details[0] and "'p0300'" in details[0]
    assert "DTCList[5]" in details[1] and "list of strings" in details[1]
    assert r.columns == {"speed_kmh": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}  # type: ignore[attr-defined]


def test_a_message_of_reports_only_is_kept_and_a_wrong_length_is_rejected() -> None:
    r = _decode({"Vehicle.OBD.DTCList": [["U0100"]]}, 1)
    assert [c for _, c in r.dtc_reports] == [("U0100",)]  # type: ignore[attr-defined]
    with pytest.raises(Rejected, match="one per row"):
        _decode({"Vehicle.OBD.DTCList": [["U0100"]]}, 2)
    with pytest.raises(Rejected, match="64 limit"):
        _decode({"Vehicle.OBD.DTCList": [[f"P{n:04d}" for n in range(65)]]}, 1)


def test_code_history_sets_clears_and_counts_episodes() -> None:
    reports = [(1, ()), (2, ("P0302",)), (3, ("P0302", "B1A00")), (4, ("B1A00",)), (5, ()),
               (6, ("P0302",))]
    states = code_states(reports)
    misfire, body = states["P0302"], states["B1A00"]
    assert (misfire.first_seen_ms, misfire.last_seen_ms, misfire.cleared_ms,
            misfire.episodes) == (2, 6, None, 2)  # set again at 6: active, its clearing gone
    assert (body.first_seen_ms, body.last_seen_ms, body.cleared_ms, body.episodes) == (
        3, 4, 5, 1)
    assert code_states([]) == {}


def test_codes_by_local_day_feed_the_misfire_rule() -> None:
    tz = ZoneInfo("Asia/Tokyo")
    late = int(datetime(2026, 11, 20, 16, 30, tzinfo=UTC).timestamp() * 1000)  # 01:30 in Tokyo
    day = codes_by_day([(late, ("B1A00",)), (late + 60_000, ("P0302", "B1A00")),
                        (late + 120_000, ())], tz)
    assert list(day) == [date(2026, 11, 21)]
    assert list(day.values()) == [["B1A00", "P0302"]]
    misfire = next(c for c in load_conditions() if c.name == "engine_misfire")
    tracker = Tracker((misfire,))
    assert tracker.day("delivery", {DTC_KEY: ["B1A00"]}) == []
    assert tracker.day("delivery", {DTC_KEY: ["B1A00", "P0302"]}) == [
        (misfire, {"condition": "engine_misfire", "signal": "Vehicle.OBD.DTCList",
                   "value": "P0302"})]
