"""Activity segments per day and maturity (pure logic)."""

from __future__ import annotations

from datetime import date, timedelta

from features.segments import activity_history, activity_rules, maturity

D0 = date(2026, 1, 1)


def days(pattern: list[float]) -> dict[date, tuple[float, int]]:
    return {D0 + timedelta(days=i): (km, 1 if km > 0 else 0) for i, km in enumerate(pattern)}


def test_stops_driving_goes_declining_lapsing_dormant() -> None:
    daily = days([20.0] * 10 + [0.0] * 40)
    h = activity_history(daily, D0, D0, D0 + timedelta(days=49), activity_rules())
    last_drive = D0 + timedelta(days=9)
    assert h[last_drive + timedelta(days=6)] == "active"      # drove within 7 days
    assert h[last_drive + timedelta(days=7)] == "declining"
    assert h[last_drive + timedelta(days=14)] == "lapsing"
    assert h[last_drive + timedelta(days=30)] == "lapsing"
    assert h[last_drive + timedelta(days=31)] == "dormant"


def test_driving_less_than_half_of_previous_window_is_declining() -> None:
    daily = days([30.0] * 30 + [10.0] * 30)
    h = activity_history(daily, D0, D0 + timedelta(days=59), D0 + timedelta(days=59),
                         activity_rules())
    assert h[D0 + timedelta(days=59)] == "declining"  # 300 km vs 900 km
    h = activity_history(days([30.0] * 30 + [20.0] * 30), D0, D0 + timedelta(days=59),
                         D0 + timedelta(days=59), activity_rules())
    assert h[D0 + timedelta(days=59)] == "active"  # 600 vs 900: down a third only


def test_days_before_first_data_are_unknown_not_idle() -> None:
    h = activity_history(days([0.0, 0.0, 15.0]), D0, D0, D0 + timedelta(days=2), activity_rules())
    assert set(h.values()) == {"active"}


def test_maturity_is_lifetime_and_needs_every_threshold_of_a_level() -> None:
    old = D0 - timedelta(days=400)
    assert maturity(None, D0, 50_000.0, 8) == "unknown"
    assert maturity(D0 - timedelta(days=30), D0, 50_000.0, 8) == "novice"  # owned too short
    assert maturity(old, D0, 50_000.0, 2) == "novice"            # too few cockpit domains
    assert maturity(old, D0, 1_500.0, 8) == "novice"             # too few km
    assert maturity(D0 - timedelta(days=200), D0, 9_000.0, 6) == "regular"
    assert maturity(old, D0, 9_000.0, 6) == "regular"            # expert needs 15,000 km
    assert maturity(old, D0, 15_000.0, 5) == "expert"
    assert maturity(old, D0, None, 8) == "novice"                # no odometer: no km yet


def test_maturity_never_falls_as_time_passes() -> None:
    """Its inputs only grow (days owned, the odometer, domains ever used), so a quiet
    month, which changes none of them, keeps the level."""
    delivered, seen = D0 - timedelta(days=100), []
    for day in range(400):
        km = 20.0 * min(day, 200) + 2_000  # drives, then stops for good
        seen.append(maturity(delivered, D0 + timedelta(days=day), km, 3 + day // 150))
    ranks = ["novice", "regular", "expert"]
    assert [ranks.index(m) for m in seen] == sorted(ranks.index(m) for m in seen)
    assert seen[0] == "regular" and seen[-1] == "regular"  # 6,000 km never reach expert
