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
  members AS (SELECT v.id, {g} AS g, v.delivered_on FROM vehicles v {join}
              WHERE %(model)s::text IS NULL OR v.model = %(model)s),
  driving AS (SELECT vehicle_id, sum(drive_s) AS drive_s FROM daily_usage
              WHERE day BETWEEN %(from)s AND %(to)s GROUP BY 1 HAVING sum(drive_s) > 0),
  observed AS (SELECT m.* FROM members m, LATERAL (SELECT day FROM daily_usage
               WHERE vehicle_id = m.id AND day <= %(to)s ORDER BY day LIMIT 1) d
               WHERE m.delivered_on IS NOT NULL
               AND d.day <= m.delivered_on + %(within)s)""")
_SEGMENT_ON_TO = sql.SQL(
    "LEFT JOIN segment_days s ON s.vehicle_id = v.id AND s.day = %(to)s")

_ADOPTION = sql.SQL("""WITH {members},
  used AS (SELECT vehicle_id, feature, sum(uses) AS uses, sum(seconds) AS seconds
           FROM feature_days WHERE day BETWEEN %(from)s AND %(to)s AND feature <> %(unknown)s
           GROUP BY 1, 2)
SELECT m.g, u.feature, count(*) AS adopters, sum(u.uses) AS uses,
  sum(u.seconds) AS seconds, sum(d.drive_s) AS drive_s
FROM used u JOIN driving d USING (vehicle_id) JOIN members m ON m.id = u.vehicle_id
GROUP BY 1, 2""")

_ACTIVE = sql.SQL("""WITH {members}
SELECT m.g, count(d.vehicle_id) AS active, count(o.id) AS observed
FROM members m LEFT JOIN driving d ON d.vehicle_id = m.id LEFT JOIN observed o ON o.id = m.id
GROUP BY 1""")

_DISCOVERY = sql.SQL("""WITH {members}
SELECT o.g, f.feature, count(*) AS discovered,
  percentile_disc(0.5) WITHIN GROUP (ORDER BY f.first_day - o.delivered_on) AS median,
  percentile_disc(0.9) WITHIN GROUP (ORDER BY f.first_day - o.delivered_on) AS p90
FROM vehicle_features f JOIN observed o ON o.id = f.vehicle_id
WHERE f.first_day <= %(to)s AND f.feature <> %(unknown)s GROUP BY 1, 2""")


def _params(frm: date, to: date, model: str | None = None) -> dict[str, Any]:
    return {"from": frm, "to": to, "within": OBSERVED_WITHIN_DAYS, "unknown": UNKNOWN,
            "model": model}


async def _rows(conn: psycopg.AsyncConnection, query: sql.SQL, by: GroupBy,
                params: dict[str, Any]) -> list[dict[str, Any]]:
    members = _MEMBERS.format(g=GROUPS[by],
                              join=_SEGMENT_ON_TO if by == "segment" else sql.SQL(""))
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # the joins' row estimates are far too high: JIT would compile for longer (about
        # 300 ms) than these queries run on a whole fleet's month
        await cur.execute("SET LOCAL jit = off")
        await cur.execute(query.format(members=members), params)
        return await cur.fetchall()


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


async def feature_insights(conn: psycopg.AsyncConnection, by: GroupBy, frm: date,
                           to: date, model: str | None = None) -> list[dict[str, Any]]:
    """One entry per group: its active and observed vehicles and each feature's figures
    (``model``: of that model's vehicles only)."""
    params = _params(frm, to, model)
    groups: dict[str, dict[str, Any]] = {}
    for r in await _rows(conn, _ACTIVE, by, params):
        groups[r["g"]] = {"group": r["g"], "active": int(r["active"]),
                          "observed": int(r["observed"]), "features": {}}
    for r in await _rows(conn, _ADOPTION, by, params):
        g = groups[r["g"]]
        g["features"][r["feature"]] = figures(r, g["active"])
    empty = {"adopters": 0, "adoption": 0.0, "uses": 0, "minutes": 0.0,
             "uses_per_drive_hour": None, "minutes_per_drive_hour": None}
    for r in await _rows(conn, _DISCOVERY, by, params):
        g = groups[r["g"]]
        g["features"].setdefault(r["feature"], dict(empty))["discovery"] = {
            "discovered": int(r["discovered"]), "median_days": int(r["median"]),
            "p90_days": int(r["p90"])}
    for g in groups.values():
        for f in g["features"].values():
            f.setdefault("discovery", {"discovered": 0, "median_days": None, "p90_days": None})
    return [groups[k] for k in sorted(groups)]


_RETENTION = sql.SQL("""WITH {members},
  weeks AS (SELECT o.id, to_char(o.delivered_on, 'YYYY-MM') AS cohort, n
            FROM observed o, generate_series(0, %(weeks)s - 1) AS n
            WHERE o.delivered_on + 7 * n + 6 <= %(to)s
            AND (%(group)s::text IS NULL OR o.g = %(group)s)),
  used AS (SELECT DISTINCT f.vehicle_id, (f.day - o.delivered_on) / 7 AS n FROM feature_days f
           JOIN observed o ON o.id = f.vehicle_id WHERE f.feature = %(feature)s
           AND f.day >= o.delivered_on AND f.day <= %(to)s)
SELECT w.cohort, w.n, count(*) AS eligible, count(u.vehicle_id) AS users
FROM weeks w LEFT JOIN used u ON u.vehicle_id = w.id AND u.n = w.n
GROUP BY 1, 2 ORDER BY 1, 2""")


async def retention(conn: psycopg.AsyncConnection, feature: str, by: GroupBy, group: str | None,
                    to: date) -> list[dict[str, Any]]:
    """Week-N retention curves per delivery cohort (optionally of one group)."""
    params = {**_params(to, to), "feature": feature, "weeks": RETENTION_WEEKS, "group": group}
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
