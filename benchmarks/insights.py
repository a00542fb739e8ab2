"""Fleet cockpit-feature insights on a large store: the timings of each figure family.

    .venv/bin/python -m benchmarks.insights [--vehicles 100000] [--days 30] [--repeat 3]

The store is generated in SQL (the rollups the insights read: registered vehicles with
delivery dates spread over four years and a tenth delivered in the last 90 days, a day of
usage per vehicle and day, feature use per vehicle, day and feature with the rates of
the simulator's owners, and a head-unit update that reached 60 % of the fleet in the
period). Each query is timed ``--repeat`` times (best and median), beside the limit
measured in the same run: one scan of the same feature rows (``count(*)`` over the
period), which every adoption figure has to read at least once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from features import insights, usage_windows
from features.version_insights import version_insights
from gateway.schema import migrate
from localservices import create_database, drop_database
from timeseries.db import connect

FEATURES = ["navigation.route_guidance", "media.radio", "media.streaming", "voice.assistant",
            "phone.calls", "projection.carplay", "projection.android_auto", "climate.ac",
            "adas.lane_keep", "apps.weather"]
GENERATE = [
    """INSERT INTO vehicles (vin, registered, model, powertrain, timezone, delivered_on,
           owner_id, dealer_id, activity, last_sample_at)
       SELECT 'WBAINSIG' || lpad(i::text, 9, '0'), true,
              (ARRAY['Aurora 1.5T', 'Boreal 2.0', 'Volta EV', 'Ion Cross', 'Hybrid Tourer'])
                  [1 + mod(i, 5)],
              (ARRAY['ice', 'ice', 'bev', 'bev', 'phev'])[1 + mod(i, 5)], 'UTC',
              current_date - CASE WHEN mod(i, 10) = 0 THEN mod(i, 90) ELSE mod(i, 1500) END,
              'owner-' || i, 'dealer-' || mod(i, 300), 'active', now()
       FROM generate_series(1, %(vehicles)s) i""",
    """INSERT INTO daily_usage (vehicle_id, day, km, drive_s, trips, max_speed, above_90_s,
           night_s, harsh_brakes, harsh_accels, fuel_used_pct, energy_used_pct, refuels,
           charges, commute_trips, cockpit)
       SELECT v.id, d.day, 30, CASE WHEN random() < 0.7 THEN 600 + random() * 5400 ELSE 0 END,
              1, 90, 0, 0, 0, 0, 0, 0, 0, 0, 0, '{}'
       FROM vehicles v, generate_series(current_date - %(days)s, current_date - 1,
                                        interval '1 day') AS d(day)
       WHERE d.day >= v.delivered_on""",
    """INSERT INTO segment_days (vehicle_id, day, activity)
       SELECT id, current_date - 1, (ARRAY['active', 'active', 'declining', 'lapsing'])
           [1 + mod(id, 4)] FROM vehicles""",
    """INSERT INTO feature_days (vehicle_id, day, feature, uses, seconds, first_ts, last_ts)
       SELECT u.vehicle_id, u.day, f.feature, 1 + (random() * 3)::int, random() * 3600,
              u.day + time '08:00', u.day + time '09:00'
       FROM daily_usage u, unnest(%(features)s::text[]) WITH ORDINALITY AS f(feature, k)
       WHERE u.drive_s > 0 AND random() < 0.06 * k * (1 + mod(u.vehicle_id, 3)) / 3""",
    """INSERT INTO vehicle_features (vehicle_id, feature, first_day)
       SELECT vehicle_id, feature, min(day) FROM feature_days GROUP BY 1, 2""",
    # a head-unit update reached 60 % of the fleet during the last 4 weeks
    """INSERT INTO software_history (vehicle_id, component, n, version, first_seen, last_seen,
           reports, from_day, to_day)
       SELECT id, 'head_unit', 1, '5.1.2', now() - interval '400 days', now(), 100,
              current_date - 400, CASE WHEN mod(id, 10) < 6 THEN current_date - 1 - mod(id, 28)
              END FROM vehicles
       UNION ALL
       SELECT id, 'head_unit', 2, '5.2.0', now(), now(), 10, current_date - 1 - mod(id, 28), NULL
       FROM vehicles WHERE mod(id, 10) < 6""",
    "VACUUM ANALYZE",
]


async def _time(label: str, repeat: int, run: Callable[[], Awaitable[Any]]) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await run()
        times.append(time.perf_counter() - t0)
    print(f"{label:<44} best {min(times) * 1000:8.0f} ms   median "
          f"{statistics.median(times) * 1000:8.0f} ms", flush=True)
    return times


async def main_async(a: argparse.Namespace) -> None:
    """Generate the store, time each insight, print the table."""
    url = create_database("tg_bench")
    try:
        conn = await connect(url)
        await migrate(conn)
        await conn.execute("DELETE FROM dirty_hours")
        t0 = time.perf_counter()
        for stmt in GENERATE:
            await conn.execute(stmt, {"vehicles": a.vehicles, "days": a.days,
                                      "features": FEATURES})
        cur = await conn.execute("SELECT (SELECT count(*) FROM daily_usage),"
                                 " (SELECT count(*) FROM feature_days)")
        days_n, feature_n = await cur.fetchone() or (0, 0)
        print(f"store: {a.vehicles:,} vehicles, {days_n:,} vehicle-days, {feature_n:,}"
              f" feature-days, generated in {time.perf_counter() - t0:.0f} s", flush=True)
        to = date.today() - timedelta(days=1)
        frm = to - timedelta(days=29)

        async def scan() -> None:
            await conn.execute("SELECT count(*) FROM feature_days WHERE day BETWEEN %s AND %s",
                               (frm, to))

        async def never() -> None:
            n = 0
            async for _ in insights.never_used(conn, "voice.assistant", {}):
                n += 1

        limit = min(await _time("limit: scan of the period's feature rows", a.repeat, scan))
        results = {}
        for by in ("model", "segment"):
            results[f"by={by}, days"] = await _time(
                f"by {by}, 30 d computed from the days", a.repeat,
                lambda by=by: insights.feature_insights(conn, by, frm, to))  # type: ignore[misc]
        results["by=version, days"] = await _time(
            "by head-unit version, 30 d computed from the days", a.repeat,
            lambda: version_insights(conn, "software_version", frm, to))

        async def refresh(ids: list[int] | None) -> None:
            async with conn.transaction():
                await usage_windows.refresh(conn, to, ids)
        await _time("refresh of the stored periods, every vehicle", 1, lambda: refresh(None))
        for table in usage_windows.TABLES:
            await conn.execute(f"ANALYZE {table}".encode())
        await _time("refresh of the stored periods, 1,000 vehicles", a.repeat,
                    lambda: refresh(list(range(1, 1001))))
        for by in ("model", "segment"):
            results[f"by={by}, stored"] = await _time(
                f"by {by}, 30 d read from the stored periods", a.repeat,
                lambda by=by: insights.feature_insights(conn, by, frm, to))  # type: ignore[misc]
        results["by=version, stored"] = await _time(
            "by head-unit version, 30 d read from the stored periods", a.repeat,
            lambda: version_insights(conn, "software_version", frm, to))
        results["retention"] = await _time(
            "week-N retention per cohort (1 feature)", a.repeat,
            lambda: insights.retention(conn, "navigation.route_guidance", "model", None, to))
        results["never"] = await _time("never-used voice.assistant (all rows)", a.repeat, never)
        print(f"\nratios to the scan limit ({limit * 1000:.0f} ms), best of {a.repeat}:")
        for name, times in results.items():
            print(f"  {name:<20} {min(times) / limit:6.1f} x the limit, {min(times):6.2f} s;"
                  f" goal 1 s: {'met' if min(times) < 1.0 else 'NOT met'}")
        await conn.close()
    finally:
        drop_database(url)


def main() -> None:
    """Command line."""
    p = argparse.ArgumentParser()
    p.add_argument("--vehicles", type=int, default=100_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--repeat", type=int, default=3)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
