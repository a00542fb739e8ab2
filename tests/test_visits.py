"""Dealer visits from positions and opening hours, and how a visit ends a reminder (pure
rules; the service loop test checks them end to end against the simulator)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from features.reminders import VisitDay, ending
from features.service import ServiceRecord
from features.visits import (
    DEFAULT_HOURS,
    HoursError,
    Site,
    Stay,
    find_visits,
    open_minutes,
    parse_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
SITE = Site("DLR-1", 52.5, 13.4, 150.0, BERLIN, parse_hours(DEFAULT_HOURS))


def _ms(y: int, m: int, d: int, hh: int, mm: int, tz: ZoneInfo = BERLIN) -> int:
    return int(datetime(y, m, d, hh, mm, tzinfo=tz).timestamp() * 1000)


def _north(metres: float) -> float:
    return SITE.latitude + metres / 111_195


def test_opening_hours_are_read_per_weekday_and_errors_name_the_day() -> None:
    hours = parse_hours({"mon": "07:30-19:00", "sat": "09:00-12:00"})
    assert hours["mon"] == (time(7, 30), time(19)) and hours["sun"] is None
    assert hours["tue"] is None  # a day not given is closed
    with pytest.raises(HoursError, match="fri"):
        parse_hours({"fri": "8-18"})
    with pytest.raises(HoursError, match="closes before it opens"):
        parse_hours({"mon": "18:00-08:00"})
    with pytest.raises(HoursError, match="'holiday'"):
        parse_hours({"holiday": None})


def test_only_minutes_inside_opening_hours_count_in_the_dealers_zone() -> None:
    monday = (2026, 11, 23)
    assert open_minutes(SITE, _ms(*monday, 9, 0), _ms(*monday, 10, 0)) == 60
    assert open_minutes(SITE, _ms(*monday, 17, 40), _ms(*monday, 18, 30)) == 20
    assert open_minutes(SITE, _ms(*monday, 6, 0), _ms(*monday, 8, 15)) == 15
    assert open_minutes(SITE, _ms(2026, 11, 29, 10, 0), _ms(2026, 11, 29, 12, 0)) == 0  # Sun
    # Friday evening to Saturday morning: 60 minutes on Friday, 60 on Saturday
    assert open_minutes(SITE, _ms(2026, 11, 27, 17, 0), _ms(2026, 11, 28, 9, 0)) == 120
    # the same instants seen from New York are outside a New York dealer's hours
    ny = Site("DLR-2", 40.7, -74.0, 150.0, ZoneInfo("America/New_York"), SITE.hours)
    assert open_minutes(ny, _ms(*monday, 9, 0), _ms(*monday, 10, 0)) == 0


def test_a_visit_needs_the_geofence_and_enough_open_minutes() -> None:
    monday = (2026, 11, 23)
    inside = Stay(_ms(*monday, 9, 0), _ms(*monday, 10, 0), _north(140), SITE.longitude)
    outside = Stay(_ms(*monday, 9, 0), _ms(*monday, 10, 0), _north(160), SITE.longitude)
    short = Stay(_ms(*monday, 9, 0), _ms(*monday, 9, 29), SITE.latitude, SITE.longitude)
    found = find_visits([inside, outside, short], [SITE], 30)
    assert [(v.dealer_id, v.open_minutes) for v in found] == [("DLR-1", 60.0)]
    assert 139 < found[0].distance_m < 141
    assert [v.arrived_ms for v in find_visits([short], [SITE], 29)] == [short.arrived_ms]


def test_the_nearest_dealer_whose_geofence_holds_the_car_is_the_one_visited() -> None:
    near = Site("DLR-NEAR", _north(100), SITE.longitude, 150.0, BERLIN, SITE.hours)
    wide = Site("DLR-WIDE", _north(-300), SITE.longitude, 500.0, BERLIN, SITE.hours)
    stay = Stay(_ms(2026, 11, 23, 9, 0), _ms(2026, 11, 23, 11, 0), SITE.latitude,
                SITE.longitude)
    assert [v.dealer_id for v in find_visits([stay], [wide, near], 30)] == ["DLR-NEAR"]
    assert [v.dealer_id for v in find_visits([stay], [wide], 30)] == ["DLR-WIDE"]


CYCLE, OPENED = "2026-03-01", date(2026, 9, 1)


def _record(day: date, items: tuple[str, ...]) -> ServiceRecord:
    return ServiceRecord(7, day, 30_000.0, items)


def test_a_visit_resolves_a_reminder_and_a_covering_record_wins_a_tie() -> None:
    visit = VisitDay(3, date(2026, 9, 10))
    end = ending([], [visit], CYCLE, {"inspection"}, OPENED, date(2026, 9, 10))
    assert end is not None and (end.state, end.day, end.by) == (
        "resolved", visit.day, "dealer_visit")
    record = _record(visit.day, ("inspection",))
    end = ending([record], [visit], CYCLE, {"inspection"}, OPENED, date(2026, 9, 1))
    assert end is not None and (end.by, end.record_id, end.visit_id) == (
        "service_record", 7, 3)
    # a record that does not cover the items, with a visit that day: the visit resolves
    partial = _record(visit.day, ("engine_oil",))
    end = ending([partial], [visit], CYCLE, {"inspection"}, OPENED, date(2026, 9, 1))
    assert end is not None and (end.state, end.by) == ("resolved", "dealer_visit")


def test_expiry_waits_until_the_records_day_has_settled() -> None:
    partial = _record(date(2026, 9, 10), ("engine_oil",))
    assert ending([partial], [], CYCLE, {"inspection"}, OPENED, date(2026, 9, 9)) is None
    end = ending([partial], [], CYCLE, {"inspection"}, OPENED, date(2026, 9, 10))
    assert end is not None and (end.state, end.day) == ("expired", date(2026, 9, 10))


def test_visits_before_the_reminder_or_on_the_day_its_cycle_began_do_not_count() -> None:
    early = VisitDay(1, date(2026, 8, 30))
    began = VisitDay(2, date(2026, 3, 1))
    assert ending([], [early, began], CYCLE, {"inspection"}, OPENED, date(2026, 9, 9)) is None
    # the cycle began with a record on the day the reminder opened: that day's visit was
    # for the record, a later one is for the reminder
    assert ending([], [began], CYCLE, {"inspection"}, date(2026, 3, 1),
                  date(2026, 9, 9)) is None
    after = VisitDay(4, date(2026, 9, 12))
    late_record = _record(date(2026, 9, 11), ("inspection",))
    end = ending([late_record], [after], CYCLE, {"inspection"}, OPENED, date(2026, 9, 20))
    assert end is not None and (end.by, end.day) == ("service_record", date(2026, 9, 11))
