"""Per-vehicle usage over the standard periods (the last 7, 30 and 90 days ending on a day),
kept so that the fleet insights over those periods read one row per vehicle and feature
instead of grouping every feature-day of the fleet.

Two tables, both for the day named in ``storage_meta`` (``usage_windows_to``):
``usage_windows`` (per vehicle and period: seconds of driving, and the first day with data
up to that day) and ``feature_windows`` (per vehicle, period and feature: uses, seconds).
They are refreshed with the profile snapshots: every vehicle once the UTC date changes (the
periods end yesterday), and the vehicles marked since (``profile_dirty``: derivation marks a
vehicle in the transaction that changes its days) every ``--profile-refresh-s``. A reader
gets the figures as of the last refresh: the computation from the days, at most one
refresh interval behind the derivation.
"""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
from psycopg import sql

from features import version_windows, window_sums
from features.cockpit_features import UNKNOWN

WINDOWS = (7, 30, 90)
# every table a refresh rewrites
TABLES = ("usage_windows", "feature_windows", *version_windows.TABLES)
META_KEY = "usage_windows_to"

_ONLY_IDS = sql.SQL("AND {} = ANY(%(ids)s)")

_USAGE = sql.SQL("""
INSERT INTO usage_windows (window_days, vehicle_id, drive_s, data_from)
SELECT w.days, v.id, coalesce(s.drive_s, 0), f.day
FROM vehicles v
CROSS JOIN LATERAL (SELECT day FROM daily_usage WHERE vehicle_id = v.id AND day <= %(to)s
                    ORDER BY day LIMIT 1) f
CROSS JOIN unnest(%(windows)s::int[]) AS w(days)
LEFT JOIN (SELECT u.vehicle_id, w.days, sum(u.drive_s) AS drive_s
           FROM daily_usage u JOIN unnest(%(windows)s::int[]) AS w(days)
             ON u.day > %(to)s::date - w.days
           WHERE u.day > %(to)s::date - %(longest)s AND u.day <= %(to)s {ids_u}
           GROUP BY 1, 2) s ON s.vehicle_id = v.id AND s.days = w.days
WHERE true {ids_v}""")

_FEATURES = sql.SQL("""
INSERT INTO feature_windows (window_days, vehicle_id, feature, uses, seconds)
WITH a AS (SELECT f.vehicle_id, f.feature, {sums} FROM feature_days f
           WHERE f.day > %(to)s::date - %(longest)s AND f.day <= %(to)s {ids_f}
           GROUP BY 1, 2)
SELECT w.days, a.vehicle_id, a.feature, w.uses, w.seconds
FROM a {per_window} WHERE w.uses IS NOT NULL""")  # NULL: no day of the period
_FEATURE_SUMS = {"uses": "f.uses", "seconds": "f.seconds"}


def period_of(frm: date, to: date) -> int | None:
    """The standard period [frm, to] is, in days, or None."""
    days = (to - frm).days + 1
    return days if days in WINDOWS else None


async def stored_to(conn: psycopg.AsyncConnection) -> date | None:
    """The day the stored periods end on, if any."""
    cur = await conn.execute("SELECT value FROM storage_meta WHERE key = %s", (META_KEY,))
    row = await cur.fetchone()
    return date.fromisoformat(row[0]) if row else None


async def refresh(conn: psycopg.AsyncConnection, to: date, ids: list[int] | None) -> None:
    """Recompute the periods ending on ``to`` of ``ids`` (None: every vehicle, and ``to``
    becomes the stored day). Run inside the caller's transaction."""
    def only(column: str) -> sql.Composable:  # "alias.column" or "column"
        return _ONLY_IDS.format(sql.Identifier(*column.split("."))) if ids is not None \
            else sql.SQL("")
    params = {"to": to, "windows": list(WINDOWS), "longest": max(WINDOWS), "ids": ids,
              "components": list(version_windows.COMPONENTS), "unknown": UNKNOWN}
    for table in TABLES:
        await conn.execute(sql.SQL("DELETE FROM {} WHERE true {}").format(
            sql.Identifier(table), only("vehicle_id")), params)
    await conn.execute(_USAGE.format(ids_u=only("vehicle_id"), ids_v=only("id")), params)
    await conn.execute(_FEATURES.format(
        ids_f=only("f.vehicle_id"), sums=window_sums.sums(_FEATURE_SUMS, "f.day", WINDOWS),
        per_window=window_sums.per_window(list(_FEATURE_SUMS), "a", WINDOWS)), params)
    for statement in version_windows.statements(only, WINDOWS):
        await conn.execute(statement, params)
    if ids is None:
        await conn.execute(
            "INSERT INTO storage_meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (META_KEY, to.isoformat()))


def periods_end(today: date) -> date:
    """The day the periods end on when the UTC date is ``today``: yesterday, the last day
    the platform's default requests ask for."""
    return today - timedelta(days=1)
