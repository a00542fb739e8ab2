"""One vehicle's cockpit feature usage as of a day, read from the per-day feature rollup.

For each feature used up to ``as_of``: first use (and the days from delivery to it: the
discovery time), last use, uses and minutes over the last 7, 30 and 90 days, both also per
hour of driving in the same window, and whether it is retained: used in at least 3 of the
last 4 weeks (the 7-day blocks ending on ``as_of``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from features.cockpit_features import UNKNOWN, load_feature_catalog

WINDOWS = (7, 30, 90)
RETAINED_WEEKS = 3  # of the last 4
OBSERVED_WITHIN_DAYS = 14  # data from at most this long after delivery: discovery is seen

_USAGE = """
SELECT feature, min(first_ts) AS first_use, min(day) AS first_day, max(last_ts) AS last_use,
  sum(uses) FILTER (WHERE day > %(d)s::date - 7) AS uses_7,
  sum(seconds) FILTER (WHERE day > %(d)s::date - 7) AS seconds_7,
  sum(uses) FILTER (WHERE day > %(d)s::date - 30) AS uses_30,
  sum(seconds) FILTER (WHERE day > %(d)s::date - 30) AS seconds_30,
  sum(uses) FILTER (WHERE day > %(d)s::date - 90) AS uses_90,
  sum(seconds) FILTER (WHERE day > %(d)s::date - 90) AS seconds_90,
  count(DISTINCT (%(d)s::date - day) / 7) FILTER (WHERE day > %(d)s::date - 28) AS weeks
FROM feature_days WHERE vehicle_id = %(v)s AND day <= %(d)s GROUP BY feature ORDER BY feature
"""

_DRIVING = """
SELECT min(day) AS first_day,
  coalesce(sum(drive_s) FILTER (WHERE day > %(d)s::date - 7), 0) AS drive_s_7,
  coalesce(sum(drive_s) FILTER (WHERE day > %(d)s::date - 30), 0) AS drive_s_30,
  coalesce(sum(drive_s) FILTER (WHERE day > %(d)s::date - 90), 0) AS drive_s_90
FROM daily_usage WHERE vehicle_id = %(v)s AND day <= %(d)s
"""


def _per_hour(amount: float, drive_s: float) -> float | None:
    return round(amount / (drive_s / 3600), 4) if drive_s > 0 else None


def _window(row: dict[str, Any], driving: dict[str, Any], days: int) -> dict[str, Any]:
    uses = int(row[f"uses_{days}"] or 0)
    minutes = float(row[f"seconds_{days}"] or 0.0) / 60
    drive_s = float(driving[f"drive_s_{days}"])
    return {"uses": uses, "minutes": round(minutes, 2),
            "drive_hours": round(drive_s / 3600, 3),
            "uses_per_drive_hour": _per_hour(uses, drive_s),
            "minutes_per_drive_hour": _per_hour(minutes, drive_s)}


async def vehicle_feature_usage(conn: psycopg.AsyncConnection, vid: int, as_of: date,
                                delivered_on: date | None) -> dict[str, Any]:
    """The usage document of one vehicle (see the module docstring)."""
    params = {"v": vid, "d": as_of}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_USAGE, params)
        rows = await cur.fetchall()
        await cur.execute(_DRIVING, params)
        driving = await cur.fetchone()
    assert driving is not None  # an aggregate always answers one row
    data_from: date | None = driving["first_day"]
    observed = (delivered_on is not None and data_from is not None
                and data_from <= delivered_on + timedelta(days=OBSERVED_WITHIN_DAYS))
    features, unknown = [], 0
    for row in rows:
        if row["feature"] == UNKNOWN:
            unknown = int(row["uses_90"] or 0)
            continue
        first_day: date = row["first_day"]
        features.append({
            "feature": row["feature"],
            "first_use": row["first_use"].isoformat(), "first_use_day": first_day.isoformat(),
            "discovery_days": (first_day - delivered_on).days if delivered_on else None,
            "last_use": row["last_use"].isoformat(),
            "windows": {str(w): _window(row, driving, w) for w in WINDOWS},
            "weeks_used_of_last_4": int(row["weeks"]),
            "retained": int(row["weeks"]) >= RETAINED_WEEKS,
        })
    used = {f["feature"] for f in features}
    catalog = load_feature_catalog()
    return {"as_of": as_of.isoformat(), "catalog_version": catalog.version,
            "delivered_on": delivered_on.isoformat() if delivered_on else None,
            "data_from": data_from.isoformat() if data_from else None,
            "observed_from_delivery": observed, "features": features,
            "never_used": [n for n in catalog.fixed_names if n not in used],
            "unknown_uses_90": unknown}
