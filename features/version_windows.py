"""Per-vehicle usage over the standard periods split by software version, kept so that the
fleet insights by version over those periods read a few rows per vehicle instead of joining
every day of the fleet with the version history (``features.version_insights``).

Two tables for the day of the other stored periods (``features.usage_windows``, refreshed
with them, in the same transaction): ``version_windows`` (per vehicle, component and
version: the seconds of driving on the days of that version in each period, side by side;
rows with driving in the longest period only) and ``version_feature_windows`` (the same and
a feature: uses and seconds per period; rows with uses in the longest period only).
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
INSERT INTO version_windows (component, vehicle_id, version, {columns})
{members},
a AS (SELECT m.component, m.id, m.g, {sums}
      FROM members m
      JOIN daily_usage u ON u.vehicle_id = m.id AND u.day >= m.lo AND u.day < m.hi
      WHERE u.day > %(to)s::date - %(longest)s AND u.day <= %(to)s {ids_u}
      GROUP BY 1, 2, 3)
SELECT a.component, a.id, a.g, {columns} FROM a WHERE {longest} > 0""")

_FEATURES = sql.SQL("""
INSERT INTO version_feature_windows (component, vehicle_id, version, feature, {columns})
{members},
a AS (SELECT m.id, m.component, m.g, f.feature, {sums}
      FROM members m
      JOIN feature_days f ON f.vehicle_id = m.id AND f.day >= m.lo AND f.day < m.hi
      WHERE f.day > %(to)s::date - %(longest)s AND f.day <= %(to)s
        AND f.feature <> %(unknown)s {ids_f}
      GROUP BY 1, 2, 3, 4)
SELECT a.component, a.id, a.g, a.feature, {columns} FROM a WHERE {longest} > 0""")
_DRIVE = {"drive_s": "u.drive_s"}
_USE = {"uses": "f.uses", "seconds": "f.seconds"}


def column(name: str, window: int) -> sql.Identifier:
    """The column of ``name`` ("drive_s", "uses", "seconds") for the period of ``window``
    days. A row is kept when its longest period has driving (uses); a shorter period of it
    without any (0 or NULL: no day) is no row of that period."""
    return sql.Identifier(f"{name}_{window}")


def statements(only: Callable[[str], sql.Composable], windows: Sequence[int]
               ) -> list[sql.Composed]:
    """The inserts of a refresh (after its delete of ``TABLES``' rows), ``only(column)``
    filtering on the refreshed vehicles; run by ``features.usage_windows.refresh`` with its
    parameters (and ``components``, ``unknown``), for the periods ``windows``."""
    members = _MEMBERS.format(ids_h=only("h.vehicle_id"), ids_v=only("v.id"))

    def columns(sums: dict[str, str]) -> sql.Composed:
        return sql.SQL(", ").join(column(n, w) for w in windows for n in sums)
    # the vehicles' filter on the days too: the planner then reads only their rows
    return [_DRIVING.format(members=members, ids_u=only("u.vehicle_id"),
                            sums=window_sums.sums(_DRIVE, "u.day", windows),
                            columns=columns(_DRIVE), longest=column("drive_s", max(windows))),
            _FEATURES.format(members=members, ids_f=only("f.vehicle_id"),
                             sums=window_sums.sums(_USE, "f.day", windows),
                             columns=columns(_USE), longest=column("uses", max(windows)))]
