"""Software versions per vehicle, from the reports of the catalog's text signals
(``Vehicle.Cabin.Infotainment.SoftwareVersion``: component ``head_unit``;
``Vehicle.SoftwareVersion``: component ``vehicle``).

The history of a component is its reports in time order with consecutive equal versions
joined: each entry has its first and last report. A change of version between two entries
is a ``software_updated`` event, emitted once per vehicle, component, version and
occurrence (a car that goes back to a version and forward again gets a second one).

The *version of a local day* is that of the day's last report, or, on a day without
reports, of the last report before it; days before the first report have none. So an entry
stands for the local days [day of its first report, day of the next entry's first report).
The fleet insights cut the feature figures by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from decoders.catalog import load_catalog
from features import feed
from features.feed import at_ms, iso_z
from features.rollups import local_day

COMPONENTS = tuple(spec.component for spec in load_catalog().texts.values())
Report = tuple[int, str]  # (t_ms, version)


@dataclass(frozen=True, slots=True)
class Entry:
    """One version's run in a component's history (times in ms, days local)."""

    n: int
    version: str
    first_ms: int
    last_ms: int
    reports: int
    from_day: date
    to_day: date | None  # the next entry's from_day: exclusive; None for the current one


def history(reports: Iterable[Report], tz: ZoneInfo) -> list[Entry]:
    """The entries of one component's reports (any order; one report per instant)."""
    runs: list[tuple[str, int, int, int]] = []  # (version, first, last, reports)
    for t, version in sorted(reports):
        if runs and runs[-1][0] == version:
            runs[-1] = (version, runs[-1][1], t, runs[-1][3] + 1)
        else:
            runs.append((version, t, t, 1))
    days = [local_day(first, tz) for _, first, _, _ in runs]
    return [Entry(i + 1, version, first, last, count, days[i],
                  days[i + 1] if i + 1 < len(runs) else None)
            for i, (version, first, last, count) in enumerate(runs)]


async def refresh(conn: psycopg.AsyncConnection, vid: int, vin: str, tz: ZoneInfo,
                  hours: list[int], owner_id: str | None = None,
                  dealer_id: str | None = None) -> int:
    """If reports fall in the dirty ``hours``, rewrite the vehicle's history where they
    changed it and emit the updates not yet announced; returns the events emitted. Runs in
    the derivation's transaction."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM software_reports r, unnest(%s::bigint[]) AS h"
        " WHERE r.vehicle_id = %s AND r.ts >= to_timestamp(h * 3600)"
        " AND r.ts < to_timestamp((h + 1) * 3600))", (hours, vid))
    row = await cur.fetchone()
    if not row or not row[0]:
        return 0
    cur = await conn.execute(
        "SELECT component, (extract(epoch FROM ts) * 1000)::bigint, version"
        " FROM software_reports WHERE vehicle_id = %s", (vid,))
    per: dict[str, list[Report]] = {}
    for component, t, version in await cur.fetchall():
        per.setdefault(component, []).append((int(t), version))
    new = {c: history(r, tz) for c, r in per.items()}
    async with conn.cursor(row_factory=dict_row) as rows:
        await rows.execute(
            "SELECT component, n, version, (extract(epoch FROM first_seen) * 1000)::bigint"
            " AS first_ms, (extract(epoch FROM last_seen) * 1000)::bigint AS last_ms, reports,"
            " from_day, to_day FROM software_history WHERE vehicle_id = %s"
            " ORDER BY component, n", (vid,))
        stored = await rows.fetchall()
    old: dict[str, list[Entry]] = {}
    for r in stored:
        old.setdefault(r.pop("component"), []).append(Entry(**r))
    if old == new:
        return 0
    await conn.execute("DELETE FROM software_history WHERE vehicle_id = %s", (vid,))
    async with conn.cursor() as c:
        await c.executemany(
            "INSERT INTO software_history (vehicle_id, component, n, version, first_seen,"
            " last_seen, reports, from_day, to_day) VALUES (%(v)s, %(c)s, %(n)s, %(version)s,"
            " %(first)s, %(last)s, %(reports)s, %(from_day)s, %(to_day)s)",
            [{"v": vid, "c": comp, "n": e.n, "version": e.version, "first": at_ms(e.first_ms),
              "last": at_ms(e.last_ms), "reports": e.reports, "from_day": e.from_day,
              "to_day": e.to_day} for comp, entries in sorted(new.items()) for e in entries])
    emitted = 0
    for comp, entries in sorted(new.items()):
        for prev, e in pairwise(entries):
            occurrence = sum(1 for x in entries[:e.n] if x.version == e.version)
            emitted += await feed.emit(
                conn, f"software_updated:{vin}:{comp}:{e.version}:{occurrence}",
                "software_updated", vid, at_ms(e.first_ms),
                {"vin": vin, "owner_id": owner_id, "dealer_id": dealer_id,
                 "component": comp, "from": prev.version, "to": e.version,
                 "first_seen": iso_z(at_ms(e.first_ms)),
                 "last_seen_before": iso_z(at_ms(prev.last_ms))})
    return emitted


async def of_vehicle(conn: psycopg.AsyncConnection, vid: int) -> dict[str, Any]:
    """The vehicle's current version per component and its whole history, JSON-ready."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT component, version, first_seen, last_seen, reports, from_day, to_day"
            " FROM software_history WHERE vehicle_id = %s ORDER BY component, n", (vid,))
        rows = await cur.fetchall()
    current: dict[str, str | None] = dict.fromkeys(COMPONENTS)
    out = []
    for r in rows:
        current[r["component"]] = r["version"]
        out.append({"component": r["component"], "version": r["version"],
                    "first_seen": iso_z(r["first_seen"]), "last_seen": iso_z(r["last_seen"]),
                    "reports": r["reports"], "from_day": r["from_day"].isoformat(),
                    "to_day": r["to_day"].isoformat() if r["to_day"] else None})
    return {"current": current, "history": out}
