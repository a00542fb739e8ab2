"""Service rules, announcements, lifecycle outcomes and predictions (pure logic)."""

from __future__ import annotations

from datetime import date, timedelta

from features.conditions import merge_aggregates, mergeable
from features.prediction import Rate, driving_rate, predict
from features.reminders import announcements, grouped, outcome
from features.service import ServiceRecord, add_months, evaluate, load_rules, to_json

RULES = load_rules()
DELIVERED = date(2025, 3, 10)


def test_first_inspection_by_distance_before_time() -> None:
    s = evaluate(RULES, "Boreal 2.0", "ice", DELIVERED, 14_200.0, date(2025, 9, 1), [])
    by = {i.name: i for i in s.items}
    assert by["inspection"].due_km == 15_000 and by["inspection"].status == "due_soon"
    assert by["inspection"].remaining_km == 800.0 and by["inspection"].reason == "distance"
    assert by["engine_oil"].status == "overdue"  # 10,000 km passed
    assert by["brake_fluid"].due_date == date(2027, 3, 10) and by["brake_fluid"].status == "ok"
    assert s.status == "overdue" and s.cycle == "delivery" and s.history == "unknown"
    assert all(i.assumed for i in s.items)
    assert [i.name for i in s.items_due] == ["inspection", "engine_oil", "tyre_rotation"]


def test_the_summary_describes_one_item_of_the_worst_status() -> None:
    s = evaluate(RULES, "Boreal 2.0", "ice", DELIVERED, 14_200.0, date(2025, 9, 1), [])
    body = to_json(s)
    assert body["status"] == "overdue" and body["next"]["status"] == "overdue"
    assert body["next"]["remaining_km"] <= 0


def test_time_decides_when_little_is_driven() -> None:
    s = evaluate(RULES, "Boreal 2.0", "bev", DELIVERED, 3_000.0, date(2026, 2, 20), [])
    insp = next(i for i in s.items if i.name == "inspection")
    assert insp.due_date == date(2026, 3, 10) and insp.remaining_days == 18
    assert insp.status == "due_soon" and insp.reason == "time"
    assert "engine_oil" not in [i.name for i in s.items]  # not for this powertrain


def test_service_record_resets_the_items_it_lists() -> None:
    book = [ServiceRecord(7, date(2025, 8, 1), 9_800.0, ("engine_oil", "tyre_rotation"))]
    s = evaluate(RULES, "Boreal 2.0", "ice", DELIVERED, 14_200.0, date(2025, 9, 1), book)
    by = {i.name: i for i in s.items}
    assert by["engine_oil"].due_km == 19_800.0 and by["engine_oil"].status == "ok"
    assert by["inspection"].status == "due_soon"  # not listed: still from delivery
    assert s.status == "due_soon" and s.cycle == "2025-08-01" and s.history == "known"
    assert not any(i.assumed for i in s.items)
    # a record dated after as_of does not count yet
    later = evaluate(RULES, "Boreal 2.0", "ice", DELIVERED, 14_200.0, date(2025, 7, 1), book)
    assert later.cycle == "delivery"


def test_model_specific_rules_and_month_arithmetic() -> None:
    s = evaluate(RULES, "Volta EV", "bev", DELIVERED, 100.0, date(2025, 4, 1), [])
    assert next(i for i in s.items if i.name == "inspection").due_km == 30_000
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 12, 15), 14) == date(2026, 2, 15)


def test_each_item_is_announced_once_per_cycle_and_threshold() -> None:
    book = [ServiceRecord(1, date(2025, 6, 1), 9_000.0, ("engine_oil", "tyre_rotation"))]
    start = date(2025, 8, 1)
    odo = {start + timedelta(days=i): 13_500.0 + 100 * i for i in range(60)}
    found = announcements(RULES, "Boreal 2.0", "ice", DELIVERED, book, odo,
                          start + timedelta(days=59))
    got = [(a.item, a.threshold, a.day, a.reason) for a in found]
    # inspection (15,000 from delivery): soon at 14,000 (day 5), overdue at 15,000 (day 15);
    # oil and tyres (19,000 from the record): soon at 18,000 (day 45), overdue day 55;
    # cabin filter (20,000 from delivery): soon at 19,000 (day 55)
    assert got == [
        ("inspection", "due_soon", start + timedelta(days=5), "distance"),
        ("inspection", "overdue", start + timedelta(days=15), "distance"),
        ("engine_oil", "due_soon", start + timedelta(days=45), "distance"),
        ("tyre_rotation", "due_soon", start + timedelta(days=45), "distance"),
        ("engine_oil", "overdue", start + timedelta(days=55), "distance"),
        ("cabin_filter", "due_soon", start + timedelta(days=55), "distance"),
        ("tyre_rotation", "overdue", start + timedelta(days=55), "distance"),
    ]
    assert all(a.cycle == "2025-06-01" for a in found)
    groups = grouped(found)
    assert [(k[1], [a.item for a in g]) for k, g in groups][2] == \
        ("due_soon", ["engine_oil", "tyre_rotation"])


def test_reaching_overdue_at_once_is_announced_as_overdue_only() -> None:
    day = date(2025, 9, 1)
    found = announcements(RULES, "Boreal 2.0", "ice", DELIVERED, [], {day: 16_000.0}, day)
    assert {(a.item, a.threshold) for a in found} == {
        ("inspection", "overdue"), ("engine_oil", "overdue"), ("tyre_rotation", "overdue")}


def test_days_without_data_carry_the_odometer_and_dates_still_count() -> None:
    day = date(2026, 1, 1)
    found = announcements(RULES, "Boreal 2.0", "bev", DELIVERED, [], {day: 100.0},
                          date(2026, 3, 10))
    assert [(a.item, a.threshold, a.day, a.reason) for a in found] == [
        ("inspection", "due_soon", date(2026, 2, 8), "time"),
        ("inspection", "overdue", date(2026, 3, 10), "time")]


def test_a_reminder_resolves_when_the_next_record_covers_its_items() -> None:
    book = [ServiceRecord(1, date(2025, 6, 1), 9_000.0, ("inspection",)),
            ServiceRecord(2, date(2025, 9, 1), 14_000.0, ("inspection", "engine_oil"))]
    ended = outcome(book, "2025-06-01", {"inspection", "engine_oil"})
    assert ended is not None and ended[0] == "resolved" and ended[1].id == 2
    ended = outcome(book, "2025-06-01", {"inspection", "tyre_rotation"})
    assert ended is not None and ended[0] == "expired"
    assert outcome(book, "2025-09-01", {"inspection"}) is None
    assert outcome(book, "delivery", {"inspection"}) == ("resolved", book[0])


def test_driving_rate_needs_a_week_and_separates_weekends() -> None:
    monday = date(2026, 3, 2)
    daily = {monday + timedelta(days=i): (40.0 if i % 7 < 5 else 100.0) for i in range(28)}
    assert driving_rate(daily, monday, monday + timedelta(days=5)) is None  # 6 days
    rate = driving_rate(daily, monday, monday + timedelta(days=27))
    assert rate is not None and rate.days == 28  # all there is (the window is 56 days)
    assert rate.weekday_km == 40.0 and rate.weekend_km == 100.0
    assert rate.spread == 0.25  # identical weeks: the minimum spread


def test_prediction_walks_weekdays_and_weekends_and_gives_a_range() -> None:
    rate = Rate(40.0, 100.0, 28, 0.25)
    friday = date(2026, 3, 27)
    p = predict(250.0, None, friday, rate)
    assert p is not None and p.by == "distance"
    assert p.expected == date(2026, 3, 31)  # sat 100, sun 200, mon 240, tue 280
    assert p.earliest <= p.expected <= p.latest and p.earliest < p.latest
    # a due date before the distance is reached decides
    q = predict(250.0, date(2026, 3, 29), friday, rate)
    assert q is not None and q.by == "time" and q.expected == date(2026, 3, 29)
    assert predict(250.0, None, friday, None) is None  # too little data, no date limit


def test_engine_hours_decide_where_the_model_says_so() -> None:
    # Aurora 1.5T: engine oil every 7,500 km, 12 months or 150 engine hours
    book = [ServiceRecord(1, date(2025, 6, 1), 9_000.0, ("engine_oil",), 400.0)]
    s = evaluate(RULES, "Aurora 1.5T", "ice", DELIVERED, 11_000.0, date(2025, 9, 1), book,
                 engine_hours=530.0)
    oil = next(i for i in s.items if i.name == "engine_oil")
    assert oil.due_hours == 550.0 and oil.remaining_hours == 20.0
    assert oil.status == "due_soon" and oil.reason == "engine_hours"  # within 25 h
    later = evaluate(RULES, "Aurora 1.5T", "ice", DELIVERED, 11_000.0, date(2025, 9, 1), book,
                     engine_hours=550.0)
    assert next(i for i in later.items if i.name == "engine_oil").status == "overdue"
    # a record without hours: no hours count in that cycle; no reading: none either
    blind = [ServiceRecord(1, date(2025, 6, 1), 9_000.0, ("engine_oil",))]
    s = evaluate(RULES, "Aurora 1.5T", "ice", DELIVERED, 11_000.0, date(2025, 9, 1), blind,
                 engine_hours=9_999.0)
    assert next(i for i in s.items if i.name == "engine_oil").status == "ok"
    s = evaluate(RULES, "Aurora 1.5T", "ice", DELIVERED, 11_000.0, date(2025, 9, 1), book)
    assert next(i for i in s.items if i.name == "engine_oil").status == "ok"
    # the other models have no hours rule
    s = evaluate(RULES, "Boreal 2.0", "ice", DELIVERED, 5_000.0, date(2025, 4, 1), [],
                 engine_hours=5_000.0)
    assert next(i for i in s.items if i.name == "engine_oil").status == "ok"


def test_a_long_prediction_skips_whole_weeks_and_lands_on_the_same_day() -> None:
    rate = Rate(40.0, 100.0, 28, 0.25)  # 400 km a week
    friday = date(2026, 3, 27)
    p = predict(250.0 + 400.0 * 30, None, friday, rate)  # 30 weeks after the short case
    assert p is not None and p.expected == date(2026, 3, 31) + timedelta(weeks=30)
    assert predict(10_000_000.0, None, friday, rate) is None  # beyond the 3-year horizon
    assert predict(100.0, None, friday, Rate(0.0, 0.0, 28, 0.25)) is None  # never drives


def test_day_aggregates_of_parts_of_a_day_merge_into_the_whole_day() -> None:
    morning = {"starts:lv_battery_v": [[1000, 12.1], [2000, 11.9]], "min:tyre_1l_kpa": 230.0,
               "max:brake_pad_1l_pct": 40.0, "set:engine_oil_level": [2.0]}
    evening = {"starts:lv_battery_v": [[2000, 11.9], [5000, 11.8]], "min:tyre_1l_kpa": 190.0,
               "max:brake_pad_1l_pct": 35.0, "set:engine_oil_level": [1.0, 2.0],
               "min:battery_soh_pct": 91.0}
    whole = merge_aggregates(morning, evening)
    assert whole == {"starts:lv_battery_v": [[1000, 12.1], [2000, 11.9], [5000, 11.8]],
                     "min:tyre_1l_kpa": 190.0, "max:brake_pad_1l_pct": 40.0,
                     "set:engine_oil_level": [1.0, 2.0], "min:battery_soh_pct": 91.0}
    assert merge_aggregates(whole, evening) == whole  # a row seen twice counts once
    assert mergeable(whole) and not mergeable({"starts:lv_battery_v": [12.1, 11.9]})
