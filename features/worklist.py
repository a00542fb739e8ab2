"""What a dealer's service advisor works from: the cars whose items fall due soon, and how
well reminders turn into services (the conversion report)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from features.dealers import booking_link

GroupBy = Literal["dealer", "model", "segment"]
GROUP_BY: tuple[GroupBy, ...] = GroupBy.__args__  # type: ignore[attr-defined]
REPORT_FIELDS = ("issued", "notified", "acknowledged", "booked", "resolved",
                 "resolved_by_visit", "resolved_30d", "resolved_60d", "resolved_90d", "expired",
                 "median_days_to_service", "services", "services_without_reminder",
                 "share_without_reminder", "visits")
_GROUP_SQL: dict[GroupBy, str] = {"dealer": "v.dealer_id", "model": "v.model",
                                  "segment": "v.activity"}


def _due_within(item: dict[str, Any], horizon: date) -> bool:
    if item["status"] != "ok":
        return True
    when = (item.get("predicted") or {}).get("date") or item.get("due_date")
    return when is not None and date.fromisoformat(when) <= horizon


async def worklist(conn: psycopg.AsyncConnection, dealer: dict[str, Any], as_of: date,
                   within_days: int) -> list[dict[str, Any]]:
    """The dealer's vehicles with items due by ``as_of + within_days``, soonest first."""
    horizon = as_of + timedelta(days=within_days)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT v.vin, v.model, v.owner_id, v.owner_channel, v.advisor_id,"
            " v.service_status, v.service_next_date, v.service_snapshot,"
            " (SELECT count(*) FROM service_records s WHERE s.vehicle_id = v.id) AS services,"
            " (SELECT jsonb_build_object('done_on', s.done_on, 'odometer_km', s.odometer_km,"
            "   'items', s.items) FROM service_records s WHERE s.vehicle_id = v.id"
            "   ORDER BY s.done_on DESC, s.odometer_km DESC LIMIT 1) AS last_service,"
            " (SELECT jsonb_build_object('id', r.id::text, 'state', r.state, 'cycle', r.cycle)"
            "   FROM service_reminders r WHERE r.vehicle_id = v.id"
            "   ORDER BY r.opened_day DESC, r.id DESC LIMIT 1) AS reminder"
            " FROM vehicles v WHERE v.dealer_id = %(d)s AND v.service_snapshot IS NOT NULL"
            " AND (v.service_status <> 'ok' OR v.service_next_date <= %(h)s)"
            " ORDER BY v.service_next_date NULLS LAST, v.vin", {"d": dealer["id"], "h": horizon})
        rows = await cur.fetchall()
    out = []
    for r in rows:
        snap = r["service_snapshot"]
        items = [i for i in snap["items"] if _due_within(i, horizon)]
        reminder = r["reminder"]
        names = [i["name"] for i in items]
        out.append({
            "vin": r["vin"], "model": r["model"], "owner_id": r["owner_id"],
            "owner_channel": r["owner_channel"], "advisor_id": r["advisor_id"],
            "status": r["service_status"], "history": snap["history"],
            "predicted_date": r["service_next_date"].isoformat()
            if r["service_next_date"] else None,
            "odometer_km": snap["odometer_km"], "items": items,
            "service_history": {"services": r["services"], "last": r["last_service"]},
            "reminder": reminder,
            "booking_url": booking_link(dealer["booking_url"], r["vin"],
                                        reminder["id"] if reminder else None, names,
                                        r["advisor_id"]),
        })
    return out


async def conversion(conn: psycopg.AsyncConnection, start: date, end: date, by: GroupBy
                     ) -> list[dict[str, Any]]:
    """Per group: reminders opened in [start, end] and what became of them; services done
    in the same days and how many came without a reminder; dealer visits those days."""
    key = sql.SQL(_GROUP_SQL[by])
    q = sql.SQL(
        "SELECT {key} AS grp, count(*) AS issued,"
        " count(r.notified_at) AS notified, count(r.acknowledged_at) AS acknowledged,"
        " count(r.booked_at) AS booked,"
        " count(*) FILTER (WHERE r.state = 'resolved') AS resolved,"
        " count(*) FILTER (WHERE r.state = 'resolved' AND r.closed_by = 'dealer_visit')"
        "  AS resolved_by_visit,"
        " count(*) FILTER (WHERE r.state = 'resolved' AND r.closed_day - r.opened_day <= 30)"
        "  AS resolved_30d,"
        " count(*) FILTER (WHERE r.state = 'resolved' AND r.closed_day - r.opened_day <= 60)"
        "  AS resolved_60d,"
        " count(*) FILTER (WHERE r.state = 'resolved' AND r.closed_day - r.opened_day <= 90)"
        "  AS resolved_90d,"
        " count(*) FILTER (WHERE r.state = 'expired') AS expired,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY r.closed_day - r.opened_day)"
        "  FILTER (WHERE r.state = 'resolved') AS median_days_to_service"
        " FROM service_reminders r JOIN vehicles v ON v.id = r.vehicle_id"
        " WHERE r.opened_day BETWEEN %(s)s AND %(e)s GROUP BY 1").format(key=key)
    services = sql.SQL(
        "SELECT {key} AS grp, count(*) AS services, count(*) FILTER (WHERE NOT EXISTS"
        " (SELECT 1 FROM service_reminders r WHERE r.closed_record_id = s.id"
        "  AND r.state = 'resolved')) AS without_reminder"
        " FROM service_records s JOIN vehicles v ON v.id = s.vehicle_id"
        " WHERE s.done_on BETWEEN %(s)s AND %(e)s GROUP BY 1").format(key=key)
    visits = sql.SQL(
        "SELECT {key} AS grp, count(*) AS visits FROM dealer_visits d"
        " JOIN vehicles v ON v.id = d.vehicle_id WHERE d.day BETWEEN %(s)s AND %(e)s"
        " GROUP BY 1").format(key=key)
    args = {"s": start, "e": end}
    groups: dict[str | None, dict[str, Any]] = {}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(q, args)
        for row in await cur.fetchall():
            groups[row.pop("grp")] = row
        await cur.execute(services, args)
        svc = {row.pop("grp"): row for row in await cur.fetchall()}
        await cur.execute(visits, args)
        seen = {row["grp"]: row["visits"] for row in await cur.fetchall()}
    zero: dict[str, Any] = {k: 0 for k in REPORT_FIELDS[:REPORT_FIELDS.index("expired") + 1]}
    zero["median_days_to_service"] = None
    out = []
    for grp in sorted(set(groups) | set(svc) | set(seen), key=lambda g: (g is None, g or "")):
        s = svc.get(grp, {"services": 0, "without_reminder": 0})
        row = {by: grp, **zero, **groups.get(grp, {}), "services": s["services"],
               "services_without_reminder": s["without_reminder"],
               "share_without_reminder": round(s["without_reminder"] / s["services"], 4)
               if s["services"] else None, "visits": seen.get(grp, 0)}
        out.append(row)
    return out
