"""The software-version history of one component from its reports (pure)."""

from __future__ import annotations

import random
from datetime import date, datetime
from zoneinfo import ZoneInfo

from features.software import Entry, history

TOKYO = ZoneInfo("Asia/Tokyo")


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def test_runs_of_equal_versions_are_one_entry_in_any_order() -> None:
    reports = [(ms("2026-10-01T08:00+09:00"), "5.1.2"), (ms("2026-10-02T08:00+09:00"), "5.1.2"),
               (ms("2026-10-05T07:00+09:00"), "5.2.0"), (ms("2026-10-06T07:00+09:00"), "5.1.2")]
    want = [Entry(1, "5.1.2", reports[0][0], reports[1][0], 2, date(2026, 10, 1),
                  date(2026, 10, 5)),
            Entry(2, "5.2.0", reports[2][0], reports[2][0], 1, date(2026, 10, 5),
                  date(2026, 10, 6)),
            Entry(3, "5.1.2", reports[3][0], reports[3][0], 1, date(2026, 10, 6), None)]
    shuffled = reports[:]
    random.Random(3).shuffle(shuffled)
    assert history(shuffled, TOKYO) == want  # a rollback is a third entry, not the first


def test_days_are_local_and_a_same_day_change_leaves_the_day_to_the_new_version() -> None:
    # 23:30 UTC on 4 Oct is 08:30 on 5 Oct in Tokyo
    reports = [(ms("2026-10-04T23:30+00:00"), "A"), (ms("2026-10-05T12:00+09:00"), "B")]
    got = history(reports, TOKYO)
    assert [(e.version, e.from_day, e.to_day) for e in got] == [
        ("A", date(2026, 10, 5), date(2026, 10, 5)),  # stands for no day at all
        ("B", date(2026, 10, 5), None)]


def test_no_reports_no_history() -> None:
    assert history([], TOKYO) == []
