"""Per-vehicle usage over the standard periods split by software version, kept so that the
fleet insights by version over those periods read a few rows per vehicle instead of joining
every day of the fleet with the version history (``features.version_insights``).

Two tables for the day of the other stored periods (``features.usage_windows``, refreshed
with them, in the same transaction): ``version_windows`` (per vehicle, component, version
and period: seconds of driving on the days of that version, rows with driving only) and
``version_feature_windows`` (the same and a feature: uses and seconds, rows with uses only).
A version stands for the days given by the history (``features.software``); days before a
vehicle's first report, and vehicles that report none, are ``unknown``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg import sql

from features import window_sums

COMPONENTS = ("head_unit", "vehicle")
TABLES = ("version_windows", "version_feature_windows")

_MEMBERS = sql.SQL("""WITH members AS (
  SELECT h.vehicle_id AS id, h.component, h.version AS g, h.from_day AS lo,
         coalesce(h.to_day, 'infinity') AS hi
  FROM software_history h WHERE h.component = ANY(%(components)s) {ids_h}
  UNION ALL
  SELECT v.id, k.component, 'unknown', '-infinity'::date, coalesce(min(h.from_day), 'infinity')
  FROM vehicles v CROSS JOIN unnest(%(components)s::text[]) AS k(component)
  LEFT JOIN software_history h ON h.vehicle_id = v.id AND h.component = k.component
  WHERE true {ids_v} GROUP BY 1, 2)""")

_DRIVING = sql.SQL("""
INSERT INTO version_windows (window_days, component, vehicle_id, version, drive_s)
{members},
a AS (SELECT m.component, m.id, m.g, {sums}
      FROM members m
      JOIN daily_usage u ON u.vehicle_id = m.id AND u.day >= m.lo AND u.day < m.hi
      WHERE u.day > %(to)s::date - %(longest)s AND u.day <= %(to)s {ids_u}
      GROUP BY 1, 2, 3)
SELECT w.days, a.component, a.id, a.g, w.drive_s FROM a {per_window} WHERE w.drive_s > 0""")

_FEATURES = sql.SQL("""
INSERT INTO version_feature_windows
  (window_days, component, vehicle_id, version, feature, uses, seconds)
{members},
a AS (SELECT m.id, m.component, m.g, f.feature, {sums}
      FROM members m
      JOIN feature_days f ON f.vehicle_id = m.id AND f.day >= m.lo AND f.day < m.hi
      WHERE f.day > %(to)s::date - %(longest)s AND f.day <= %(to)s
        AND f.feature <> %(unknown)s {ids_f}
      GROUP BY 1, 2, 3, 4)
SELECT w.days, a.component, a.id, a.g, a.feature, w.uses, w.seconds
FROM a {per_window} WHERE w.uses > 0""")


def statements(only: Callable[[str], sql.Composable], windows: Sequence[int]
               ) -> list[sql.Composed]:
    """The inserts of a refresh (after its delete of ``TABLES``' rows), ``only(column)``
    filtering on the refreshed vehicles; run by ``features.usage_windows.refresh`` with its
    parameters (and ``components``, ``unknown``), for the periods ``windows``."""
    members = _MEMBERS.format(ids_h=only("h.vehicle_id"), ids_v=only("v.id"))
    drive, use = {"drive_s": "u.drive_s"}, {"uses": "f.uses", "seconds": "f.seconds"}
    # the vehicles' filter on the days too: the planner then reads only their rows
    return [_DRIVING.format(members=members, ids_u=only("u.vehicle_id"),
                            sums=window_sums.sums(drive, "u.day", windows),
                            per_window=window_sums.per_window(list(drive), "a", windows)),
            _FEATURES.format(members=members, ids_f=only("f.vehicle_id"),
                             sums=window_sums.sums(use, "f.day", windows),
                             per_window=window_sums.per_window(list(use), "a", windows))]
