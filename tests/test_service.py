"""Service rules: distance or time, whichever first; the service book resets items."""

from __future__ import annotations

from datetime import date

from features.service import ServiceRecord, add_months, evaluate, load_rules

RULES = load_rules()
DELIVERED = date(2025, 3, 10)


def test_first_inspection_by_distance_before_time() -> None:
    s = evaluate(RULES, "Boreal 2.0", "ice", DELIVERED, 14_200.0, date(2025, 9, 1), [], 60.0)
    by = {i.name: i for i in s.items}
    assert by["inspection"].due_km == 15_000 and by["inspection"].status == "due_soon"
    assert by["inspection"].remaining_km == 800.0
    assert by["engine_oil"].status == "overdue"  # 10,000 km passed
    assert by["brake_fluid"].due_date == date(2027, 3, 10) and by["brake_fluid"].status == "ok"
    assert s.status == "overdue" and s.cycle == "delivery"
    assert [i.name for i in s.items_due] == ["inspection", "engine_oil", "tyre_rotation"]
    assert s.predicted_date == date(2025, 9, 1)  # oil already overdue: 0 km left


def test_time_decides_when_little_is_driven() -> None:
    s = evaluate(RULES, "Boreal 2.0", "bev", DELIVERED, 3_000.0, date(2026, 2, 20), [], 10.0)
    insp = next(i for i in s.items if i.name == "inspection")
    assert insp.due_date == date(2026, 3, 10) and insp.remaining_days == 18
    assert insp.status == "due_soon"
    assert "engine_oil" not in [i.name for i in s.items]  # not for this powertrain


def test_service_record_resets_the_items_it_lists() -> None:
    book = [ServiceRecord(7, date(2025, 8, 1), 9_800.0, ("engine_oil", "tyre_rotation"))]
    s = evaluate(RULES, "Boreal 2.0", "ice", DELIVERED, 14_200.0, date(2025, 9, 1), book, 60.0)
    by = {i.name: i for i in s.items}
    assert by["engine_oil"].due_km == 19_800.0 and by["engine_oil"].status == "ok"
    assert by["inspection"].status == "due_soon"  # not listed: still from delivery
    assert s.status == "due_soon" and s.cycle == "7"
    assert s.remaining_km == 800.0
    # 800 km at 60 km/day: 13.3 days
    assert s.predicted_date == date(2025, 9, 14)


def test_model_specific_rules_and_month_arithmetic() -> None:
    s = evaluate(RULES, "Volta EV", "bev", DELIVERED, 100.0, date(2025, 4, 1), [], 30.0)
    assert next(i for i in s.items if i.name == "inspection").due_km == 30_000
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 12, 15), 14) == date(2026, 2, 15)
