"""An owner's layer on a day: the activity x maturity cell, the lifetime behind the maturity
and a usage profile over their vehicles, all from the ownership periods (see
docs/profiles.md, "Owners").

- activity: the most active activity among the vehicles the owner holds that day (each
  vehicle's segment as in the vehicle matrix); an owner without a settled vehicle has none;
- maturity: the owner's own lifetime, over every period up to that day: days since their
  first period began, km driven in their periods (from delivery for a period that began
  there, else from the odometer the day before the transfer), cockpit domains used in their
  periods; the thresholds of ``features/data/maturity.json``. An owner who never changed
  cars has exactly the vehicle's maturity; one who buys a used car starts again as novice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from features.profile import ACTIVITY_AS_OF, ODOMETER_AS_OF
from features.segments import ACTIVITIES, maturity

_END = "least(%(as_of)s::date, p.to_day - 1)"
_FIRST = "(a.delivered_on IS NOT NULL AND p.from_day <= a.delivered_on)"
_PERIODS = f"""
SELECT p.owner_id, a.id AS vehicle_id, a.vin, a.model, a.dealer_id, p.from_day, p.to_day,
  (p.to_day IS NULL OR p.to_day > %(as_of)s) AS holds,
  {ACTIVITY_AS_OF} AS activity,
  {ODOMETER_AS_OF.replace("%(as_of)s", _END)} AS km_end,
  CASE WHEN {_FIRST} THEN 0 ELSE
    {ODOMETER_AS_OF.replace("%(as_of)s", "(p.from_day - 1)")} END AS km_start,
  (SELECT coalesce(array_agg(DISTINCT c.key), '{{}}') FROM daily_usage d,
     jsonb_each_text(d.cockpit) AS c WHERE d.vehicle_id = a.id AND d.day <= {_END}
     AND (d.day >= p.from_day OR {_FIRST}) AND c.value::int > 0 AND c.key <> 'other') AS domains
FROM ownership_periods p JOIN vehicles a ON a.id = p.vehicle_id
WHERE p.from_day <= %(as_of)s AND (%(owners)s::text[] IS NULL OR p.owner_id = ANY(%(owners)s))
ORDER BY p.owner_id, p.from_day, a.vin"""


@dataclass(slots=True)
class OwnerDay:
    """One owner on one day: the vehicles held, the lifetime so far, the cell."""

    owner_id: str
    vehicles: list[dict[str, Any]] = field(default_factory=list)
    since: date | None = None
    km: float = 0.0
    domains: set[str] = field(default_factory=set)
    activity: str | None = None

    def maturity(self, as_of: date) -> str:
        """The lifetime maturity of the owner on ``as_of``."""
        return maturity(self.since, as_of, self.km, len(self.domains))

    def held(self) -> list[dict[str, Any]]:
        """The vehicles held that day."""
        return [v for v in self.vehicles if v["holds"]]


async def owner_days(conn: psycopg.AsyncConnection, as_of: date,
                     owner_ids: list[str] | None = None) -> dict[str, OwnerDay]:
    """Every owner's (or the given owners') day ``as_of``, from their periods begun by then."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PERIODS, {"as_of": as_of, "owners": owner_ids})
        rows = await cur.fetchall()
    out: dict[str, OwnerDay] = {}
    rank: dict[str, int] = {a: i for i, a in enumerate(ACTIVITIES)}
    for r in rows:
        o = out.setdefault(r["owner_id"], OwnerDay(r["owner_id"]))
        o.vehicles.append(r)
        o.since = min(o.since or r["from_day"], r["from_day"])
        if r["km_end"] is not None:
            o.km += max(0.0, float(r["km_end"]) - float(r["km_start"] or 0.0))
        o.domains.update(r["domains"])
        if r["holds"] and r["activity"] is not None and (
                o.activity is None or rank[r["activity"]] < rank[o.activity]):
            o.activity = r["activity"]
    return out


async def profile(conn: psycopg.AsyncConnection, owner_id: str, as_of: date,
                  window: int = 30) -> dict[str, Any]:
    """Usage over the owner's vehicles in the ``window`` days up to ``as_of``, each day
    counted for the vehicle's owner of that day only."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT count(DISTINCT d.vehicle_id) FILTER (WHERE d.trips > 0) AS vehicles_driven,"
            " count(DISTINCT d.day) FILTER (WHERE d.trips > 0) AS active_days,"
            " coalesce(round(sum(d.km)::numeric, 2), 0)::float8 AS km_total,"
            " coalesce(sum(d.trips), 0)::int AS trips,"
            " coalesce(round((sum(d.drive_s) / 3600.0)::numeric, 3), 0)::float8 AS drive_hours"
            " FROM ownership_periods p JOIN daily_usage d ON d.vehicle_id = p.vehicle_id"
            " AND d.day >= p.from_day AND (p.to_day IS NULL OR d.day < p.to_day)"
            " WHERE p.owner_id = %s AND d.day > %s AND d.day <= %s",
            (owner_id, as_of - timedelta(days=window), as_of))
        row = await cur.fetchone()
        await cur.execute(
            "SELECT type, count(*) AS n FROM owner_engagement WHERE owner_id = %s"
            " AND at >= %s::date AT TIME ZONE 'UTC' AND at < %s::date AT TIME ZONE 'UTC'"
            " GROUP BY type ORDER BY type",
            (owner_id, as_of - timedelta(days=window - 1), as_of + timedelta(days=1)))
        used = {r["type"]: r["n"] for r in await cur.fetchall()}
    assert row is not None
    return {"window_days": window, "as_of": as_of.isoformat(), **row,
            "km_per_day": round(row["km_total"] / window, 2), "engagement": used}
