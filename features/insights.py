"""Fleet insights on cockpit features, from the per-day feature rollup and daily usage.

Per group (model, delivery month, dealer or activity segment) and feature, over the local
days [from, to]:

- ``active``: vehicles of the group that drove in the period;
- ``adopters`` and ``adoption``: active vehicles that used the feature in it, and their share;
- ``uses_per_drive_hour`` and ``minutes_per_drive_hour`` (intensity): the adopters' uses and
  minutes over their own hours of driving in the period;
- discovery: for vehicles whose data starts within 14 days of delivery (``observed``), the
  days from delivery to the first use up to ``to``: how many ``discovered`` it, the median
  and the 90th percentile (nearest rank: a day count some vehicle really had).

The last 7, 30 or 90 days ending on the day the stored periods end on are read from them
(``features.usage_windows``: one row per vehicle and feature instead of a grouping of
every feature-day); any other period is computed from the per-day rollups. Both give the
same figures; the stored ones are as of their last refresh.

Week-N retention per delivery cohort: of the observed vehicles delivered in a month whose
week N after delivery has ended by ``to``, the share that used the feature in that week.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from features import usage_windows
from features.cockpit_features import UNKNOWN
from features.feature_usage import OBSERVED_WITHIN_DAYS

GroupBy = Literal["model", "delivery_month", "dealer", "segment"]
GROUPS: dict[str, sql.Composable] = {
    "model": sql.SQL("coalesce(v.model, 'unknown')"),
    "delivery_month": sql.SQL("coalesce(to_char(v.delivered_on, 'YYYY-MM'), 'unknown')"),
    "dealer": sql.SQL("coalesce(v.dealer_id, 'unknown')"),
    "segment": sql.SQL("coalesce(s.activity, 'unsettled')"),
}
RETENTION_WEEKS = 12

_MEMBERS = sql.SQL("""
  members AS {inline} (SELECT v.id, {g} AS g, v.delivered_on FROM vehicles v {join}
                        WHERE %(model)s::text IS NULL OR v.model = %(model)s),
  {sources},
  observed AS (SELECT m.* FROM members m JOIN first_days f ON f.vehicle_id = m.id
               WHERE m.delivered_on IS NOT NULL
               AND f.data_from <= m.delivered_on + %(within)s)""")
_SEGMENT_ON_TO = sql.SQL(
    "LEFT JOIN segment_days s ON s.vehicle_id = v.id AND s.day = %(to)s")

# driving: the vehicles that drove in [from, to] and for how long; first_days: each
# vehicle's first day with data up to ``to``; used: each vehicle's uses and seconds of each
# feature in [from, to]
_FROM_DAYS = sql.SQL("""
  driving AS (SELECT vehicle_id, sum(drive_s) AS drive_s FROM daily_usage
              WHERE day BETWEEN %(from)s AND %(to)s GROUP BY 1 HAVING sum(drive_s) > 0),
  first_days AS NOT MATERIALIZED (SELECT m.id AS vehicle_id, d.day AS data_from
                                  FROM members m, LATERAL (SELECT day FROM daily_usage
                                  WHERE vehicle_id = m.id AND day <= %(to)s
                                  ORDER BY day LIMIT 1) d),
  used AS (SELECT vehicle_id, feature, sum(uses) AS uses, sum(seconds) AS seconds
           FROM feature_days WHERE day BETWEEN %(from)s AND %(to)s AND feature <> %(unknown)s
           GROUP BY 1, 2)""")
# the same from the stored periods (features.usage_windows: as of their last refresh)
_FROM_WINDOWS = sql.SQL("""
  driving AS NOT MATERIALIZED (SELECT vehicle_id, drive_s FROM usage_windows
                               WHERE window_days = %(window)s AND drive_s > 0),
  first_days AS NOT MATERIALIZED (SELECT vehicle_id, data_from FROM usage_windows
                                  WHERE window_days = %(window)s),
  used AS NOT MATERIALIZED (SELECT vehicle_id, feature, uses, seconds FROM feature_windows
                            WHERE window_days = %(window)s AND feature <> %(unknown)s)""")

_ADOPTION = sql.SQL("""WITH {members}
SELECT m.g, u.feature, count(*) AS adopters, sum(u.uses) AS uses,
  sum(u.seconds) AS seconds, sum(d.drive_s) AS drive_s
FROM used u JOIN driving d USING (vehicle_id) JOIN members m ON m.id = u.vehicle_id
GROUP BY 1, 2""")

_ACTIVE = sql.SQL("""WITH {members}
SELECT m.g, count(d.vehicle_id) AS active,
  count(*) FILTER (WHERE f.data_from <= m.delivered_on + %(within)s) AS observed
FROM members m LEFT JOIN driving d ON d.vehicle_id = m.id
LEFT JOIN first_days f ON f.vehicle_id = m.id GROUP BY 1""")

_DISCOVERY = sql.SQL("""WITH {members}
SELECT o.g, f.feature, count(*) AS discovered,
  percentile_disc(0.5) WITHIN GROUP (ORDER BY f.first_day - o.delivered_on) AS median,
  percentile_disc(0.9) WITHIN GROUP (ORDER BY f.first_day - o.delivered_on) AS p90
FROM vehicle_features f JOIN observed o ON o.id = f.vehicle_id
WHERE f.first_day <= %(to)s AND f.feature <> %(unknown)s GROUP BY 1, 2""")


def _params(frm: date, to: date, model: str | None = None) -> dict[str, Any]:
    return {"from": frm, "to": to, "within": OBSERVED_WITHIN_DAYS, "unknown": UNKNOWN,
            "model": model, "window": usage_windows.period_of(frm, to)}


async def _rows(conn: psycopg.AsyncConnection, query: sql.SQL, by: GroupBy,
                params: dict[str, Any], stored: bool = False) -> list[dict[str, Any]]:
    # inlined, the vehicles join the stored rows in parallel hash joins; kept apart, they
    # let the grouping of the days run once
    members = _MEMBERS.format(g=GROUPS[by], sources=_FROM_WINDOWS if stored else _FROM_DAYS,
                              inline=sql.SQL("NOT MATERIALIZED" if stored else ""),
                              join=_SEGMENT_ON_TO if by == "segment" else sql.SQL(""))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.format(members=members), params)
        return await cur.fetchall()


async def snapshot(conn: psycopg.AsyncConnection) -> None:
    """Inside a transaction: one snapshot for every statement of an answer, and no JIT
    (the joins' row estimates are far too high: it would compile for longer, about 300 ms,
    than these queries run on a whole fleet's month)."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    await conn.execute("SET LOCAL jit = off")


def ratio(num: float, den: float, digits: int = 4) -> float | None:
    return round(num / den, digits) if den else None


def figures(r: dict[str, Any], active: int) -> dict[str, Any]:
    """A feature's adoption and intensity from its adopters, uses, seconds and the adopters'
    seconds of driving (``r``) among ``active`` vehicles."""
    hours, minutes = float(r["drive_s"]) / 3600, float(r["seconds"]) / 60
    return {"adopters": int(r["adopters"]), "adoption": ratio(r["adopters"], active),
            "uses": int(r["uses"]), "minutes": round(minutes, 2),
            "uses_per_drive_hour": ratio(int(r["uses"]), hours),
            "minutes_per_drive_hour": ratio(minutes, hours)}


async def stored_periods(conn: psycopg.AsyncConnection, frm: date, to: date) -> bool:
    """Whether [frm, to] is read from the stored periods (``features.usage_windows``)."""
    return usage_windows.period_of(frm, to) is not None \
        and await usage_windows.stored_to(conn) == to


async def feature_insights(conn: psycopg.AsyncConnection, by: GroupBy, frm: date,
                           to: date, model: str | None = None) -> list[dict[str, Any]]:
    """One entry per group: its active and observed vehicles and each feature's figures
    (``model``: of that model's vehicles only)."""
    return (await feature_insights_from(conn, by, frm, to, model))[0]


async def feature_insights_from(conn: psycopg.AsyncConnection, by: GroupBy, frm: date,
                                to: date, model: str | None = None
                                ) -> tuple[list[dict[str, Any]], bool]:
    """``feature_insights`` and whether they were read from the stored periods."""
    params = _params(frm, to, model)
    groups: dict[str, dict[str, Any]] = {}
    async with conn.transaction():
        await snapshot(conn)
        stored = await stored_periods(conn, frm, to)
        active = await _rows(conn, _ACTIVE, by, params, stored)
        adoption = await _rows(conn, _ADOPTION, by, params, stored)
        discovery = await _rows(conn, _DISCOVERY, by, params, stored)
    for r in active:
        groups[r["g"]] = {"group": r["g"], "active": int(r["active"]),
                          "observed": int(r["observed"]), "features": {}}
    for r in adoption:
        g = groups[r["g"]]
        g["features"][r["feature"]] = figures(r, g["active"])
    for r in discovery:
        g = groups[r["g"]]
        # discovered (up to ``to``) but not used in the period, possibly with no vehicle of
        # the group driving in it: then its adoption is undefined (null), not 0
        empty = {"adopters": 0, "adoption": ratio(0, g["active"]), "uses": 0,
                 "minutes": 0.0, "uses_per_drive_hour": None, "minutes_per_drive_hour": None}
        g["features"].setdefault(r["feature"], empty)["discovery"] = {
            "discovered": int(r["discovered"]), "median_days": int(r["median"]),
            "p90_days": int(r["p90"])}
    for g in groups.values():
        for f in g["features"].values():
            f.setdefault("discovery", {"discovered": 0, "median_days": None, "p90_days": None})
    return [groups[k] for k in sorted(groups)], stored


_RETENTION = sql.SQL("""WITH {members},
  weeks AS (SELECT o.id, to_char(o.delivered_on, 'YYYY-MM') AS cohort, n
            FROM observed o, generate_series(0, %(weeks)s - 1) AS n
            WHERE o.delivered_on + 7 * n + 6 <= %(to)s
            AND (%(group)s::text IS NULL OR o.g = %(group)s)),
  used_weeks AS (SELECT DISTINCT f.vehicle_id, (f.day - o.delivered_on) / 7 AS n
           FROM feature_days f
           JOIN observed o ON o.id = f.vehicle_id WHERE f.feature = %(feature)s
           AND f.day >= o.delivered_on AND f.day <= %(to)s)
SELECT w.cohort, w.n, count(*) AS eligible, count(u.vehicle_id) AS users
FROM weeks w LEFT JOIN used_weeks u ON u.vehicle_id = w.id AND u.n = w.n
GROUP BY 1, 2 ORDER BY 1, 2""")


async def retention(conn: psycopg.AsyncConnection, feature: str, by: GroupBy, group: str | None,
                    to: date) -> list[dict[str, Any]]:
    """Week-N retention curves per delivery cohort (optionally of one group)."""
    params = {**_params(to, to), "feature": feature, "weeks": RETENTION_WEEKS, "group": group}
    async with conn.transaction():
        await snapshot(conn)
        rows = await _rows(conn, _RETENTION, by, params)
    cohorts: dict[str, dict[str, Any]] = {}
    for r in rows:
        c = cohorts.setdefault(r["cohort"], {"cohort": r["cohort"], "weeks": []})
        c["weeks"].append({"week": int(r["n"]), "eligible": int(r["eligible"]),
                           "users": int(r["users"]),
                           "share": ratio(int(r["users"]), int(r["eligible"]))})
    return list(cohorts.values())


async def never_used(conn: psycopg.AsyncConnection, feature: str, filters: dict[str, str],
                     batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """Vehicles with data that never used ``feature``, with their owner, dealer, model and
    current segment, in VIN order (``filters``: model, segment, dealer_id)."""
    where: list[sql.Composable] = [sql.SQL("v.last_sample_at IS NOT NULL"),
             sql.SQL("NOT EXISTS (SELECT 1 FROM feature_days f WHERE f.vehicle_id = v.id"
                     " AND f.feature = %(feature)s)")]
    columns = {"model": "model", "segment": "activity", "dealer_id": "dealer_id"}
    for key in sorted(filters):
        where.append(sql.SQL("v.{} = {}").format(sql.Identifier(columns[key]),
                                                  sql.Placeholder(key)))
    query = sql.SQL("SELECT v.vin, v.model, v.owner_id, v.dealer_id, v.delivered_on,"
                    " v.activity AS segment FROM vehicles v WHERE {} ORDER BY v.vin").format(
        sql.SQL(" AND ").join(where))
    async with conn.transaction(), conn.cursor(name="never_used", row_factory=dict_row) as cur:
        await cur.execute(query, {"feature": feature, **filters})
        while rows := await cur.fetchmany(batch):
            for r in rows:
                r["delivered_on"] = r["delivered_on"].isoformat() if r["delivered_on"] else None
                yield r
