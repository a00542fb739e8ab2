"""Fleet insights on cockpit features cut by software version: did a feature's use change
after an update?

A vehicle belongs to a version group for the local days that version stands for (see
``features.software``: the version of a day is that of its last report, or of the last
report before it); days before any report, and vehicles that report none, are ``unknown``.
So one vehicle can count in several groups of a period, once in each. Per group and
feature over [from, to]: ``active`` (vehicles that drove on days of that version),
``adopters`` and ``adoption`` (those that used the feature on such days), and the
intensity (the adopters' uses and minutes over their driving on such days). Discovery and
retention are about a vehicle's life since delivery, not about a version: not given here.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from features import usage_windows, version_windows
from features.cockpit_features import UNKNOWN
from features.insights import figures, snapshot, stored_periods

VersionBy = Literal["software_version", "vehicle_software_version"]
COMPONENT: dict[str, str] = {"software_version": "head_unit",
                             "vehicle_software_version": "vehicle"}

_MEMBERS = """WITH cars AS (SELECT id FROM vehicles
              WHERE %(model)s::text IS NULL OR model = %(model)s),
  members AS (SELECT h.vehicle_id AS id, h.version AS g, h.from_day AS lo,
                     coalesce(h.to_day, 'infinity') AS hi
              FROM software_history h JOIN cars c ON c.id = h.vehicle_id
              WHERE h.component = %(component)s
              UNION ALL
              SELECT c.id, 'unknown', '-infinity'::date, coalesce(min(h.from_day), 'infinity')
              FROM cars c LEFT JOIN software_history h ON h.vehicle_id = c.id
              AND h.component = %(component)s GROUP BY c.id),
  driving AS (SELECT m.id, m.g, sum(u.drive_s) AS drive_s FROM members m
              JOIN daily_usage u ON u.vehicle_id = m.id AND u.day >= m.lo AND u.day < m.hi
              WHERE u.day BETWEEN %(from)s AND %(to)s GROUP BY 1, 2 HAVING sum(u.drive_s) > 0)"""

_ACTIVE = _MEMBERS + """
SELECT g, count(*) AS active FROM driving GROUP BY 1"""

_ADOPTION = _MEMBERS + """,
  used AS (SELECT m.id, m.g, f.feature, sum(f.uses) AS uses, sum(f.seconds) AS seconds
           FROM members m JOIN feature_days f ON f.vehicle_id = m.id AND f.day >= m.lo
           AND f.day < m.hi WHERE f.day BETWEEN %(from)s AND %(to)s
           AND f.feature <> %(unknown)s GROUP BY 1, 2, 3 HAVING sum(f.uses) > 0)
SELECT u.g, u.feature, count(*) AS adopters, sum(u.uses) AS uses,
  sum(u.seconds) AS seconds, sum(d.drive_s) AS drive_s
FROM used u JOIN driving d ON d.id = u.id AND d.g = u.g GROUP BY 1, 2"""


# the same from the stored periods (features.version_windows: as of their last refresh;
# {drive}, {uses}, {seconds}: the columns of the period read)
_STORED_CARS = """WITH cars AS NOT MATERIALIZED (SELECT id FROM vehicles
                   WHERE %(model)s::text IS NULL OR model = %(model)s),
  driving AS NOT MATERIALIZED (SELECT d.vehicle_id AS id, d.version AS g, d.{drive} AS drive_s
              FROM version_windows d JOIN cars c ON c.id = d.vehicle_id
              WHERE d.component = %(component)s AND d.{drive} > 0)"""

_STORED_ACTIVE = sql.SQL(_STORED_CARS + """
SELECT g, count(*) AS active FROM driving GROUP BY 1""")

_STORED_ADOPTION = sql.SQL(_STORED_CARS + """
SELECT u.version AS g, u.feature, count(*) AS adopters, sum(u.{uses}) AS uses,
  sum(u.{seconds}) AS seconds, sum(d.drive_s) AS drive_s
FROM version_feature_windows u JOIN driving d ON d.id = u.vehicle_id AND d.g = u.version
WHERE u.component = %(component)s AND u.{uses} > 0 GROUP BY 1, 2""")


def _stored(query: sql.SQL, window: int) -> sql.Composed:
    return query.format(**{n: version_windows.column(c, window) for n, c in
                           (("drive", "drive_s"), ("uses", "uses"), ("seconds", "seconds"))})


async def version_insights(conn: psycopg.AsyncConnection, by: VersionBy, frm: date, to: date,
                           model: str | None = None) -> list[dict[str, Any]]:
    """One entry per version of the component: its active vehicles and each feature's
    adoption and intensity on the days of that version (``model``: one model's vehicles)."""
    return (await version_insights_from(conn, by, frm, to, model))[0]


async def version_insights_from(conn: psycopg.AsyncConnection, by: VersionBy, frm: date,
                                to: date, model: str | None = None
                                ) -> tuple[list[dict[str, Any]], bool]:
    """``version_insights`` and whether they were read from the stored periods (the last
    7, 30 or 90 days ending on the day they are stored for), in one snapshot."""
    window = usage_windows.period_of(frm, to)
    params = {"from": frm, "to": to, "model": model, "component": COMPONENT[by],
              "unknown": UNKNOWN}
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await snapshot(conn)
        stored = await stored_periods(conn, frm, to)  # then the period has a length
        await cur.execute(_stored(_STORED_ACTIVE, window) if stored and window else _ACTIVE,
                          params)
        groups = {r["g"]: {"group": r["g"], "active": int(r["active"]), "observed": None,
                           "features": {}} for r in await cur.fetchall()}
        await cur.execute(_stored(_STORED_ADOPTION, window) if stored and window
                          else _ADOPTION, params)
        for r in await cur.fetchall():
            groups[r["g"]]["features"][r["feature"]] = {
                **figures(r, groups[r["g"]]["active"]), "discovery": None}
    return [groups[k] for k in sorted(groups)], stored
