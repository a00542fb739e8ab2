"""Diagnostic trouble codes per vehicle, from the reports of ``Vehicle.OBD.DTCList`` (the
list of codes active at an instant; an empty list says none is).

A code is *set* at the first report that lists it, *seen* at every report that lists it,
and *cleared* at the first later report that does not; a code that comes back starts a new
episode (its first sighting stays, its clearing is forgotten until it clears again). Each
local day also gets the set of codes reported active that day, for the condition rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from features.conditions import DTC_KEY
from features.feed import at_ms, iso_z


@dataclass(slots=True)
class CodeState:
    """One code's history on one vehicle (times in ms)."""

    code: str
    first_seen_ms: int
    last_seen_ms: int
    cleared_ms: int | None
    episodes: int


Report = tuple[int, tuple[str, ...]]


def code_states(reports: Iterable[Report]) -> dict[str, CodeState]:
    """Every code's history from the reports in time order."""
    states: dict[str, CodeState] = {}
    active: set[str] = set()
    for t, codes in reports:
        now = set(codes)
        for code in now:
            state = states.get(code)
            if state is None:
                states[code] = CodeState(code, t, t, None, 1)
                continue
            if code not in active:
                state.episodes += 1
                state.cleared_ms = None
            state.last_seen_ms = t
        for code in active - now:
            states[code].cleared_ms = t
        active = now
    return states


def codes_by_day(reports: Iterable[Report], tz: ZoneInfo) -> dict[date, list[str]]:
    """The codes reported active on each local day (days with none are left out)."""
    days: dict[date, set[str]] = {}
    for t, codes in reports:
        if codes:
            days.setdefault(datetime.fromtimestamp(t / 1000, tz).date(), set()).update(codes)
    return {d: sorted(c) for d, c in sorted(days.items())}


async def ask_reports(conn: psycopg.AsyncConnection, vid: int) -> psycopg.AsyncCursor[Any]:
    """Send the read of the vehicle's reports in time order (in pipeline mode: without
    waiting)."""
    return await conn.execute(
        "SELECT (extract(epoch FROM ts) * 1000)::bigint, codes FROM dtc_reports"
        " WHERE vehicle_id = %s ORDER BY ts", (vid,))


async def refresh(conn: psycopg.AsyncConnection, vid: int, tz: ZoneInfo,
                  conditions: dict[date, dict[str, object]],
                  asked: psycopg.AsyncCursor[Any] | None = None) -> None:
    """Rewrite the vehicle's code histories and add each day's codes to its condition
    aggregates (``conditions``, changed in place) under ``DTC_KEY`` (``asked``: the read
    of the reports sent before by ``ask_reports``)."""
    cur = asked if asked is not None else await ask_reports(conn, vid)
    reports = [(int(t), tuple(c)) for t, c in await cur.fetchall()]
    if not reports:
        return
    for day, codes in codes_by_day(reports, tz).items():
        conditions.setdefault(day, {})[DTC_KEY] = codes
    states = code_states(reports)
    await conn.execute("DELETE FROM vehicle_dtcs WHERE vehicle_id = %s", (vid,))
    if not states:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO vehicle_dtcs (vehicle_id, code, first_seen, last_seen, cleared_at,"
            " episodes) VALUES (%(v)s, %(code)s, %(first)s, %(last)s, %(cleared)s, %(n)s)",
            [{"v": vid, "code": s.code, "first": at_ms(s.first_seen_ms),
              "last": at_ms(s.last_seen_ms),
              "cleared": at_ms(s.cleared_ms) if s.cleared_ms is not None else None,
              "n": s.episodes} for s in states.values()])


async def of_vehicle(conn: psycopg.AsyncConnection, vid: int) -> list[dict[str, object]]:
    """The vehicle's codes, active ones first, JSON-ready."""
    cur = await conn.execute(
        "SELECT code, first_seen, last_seen, cleared_at, episodes FROM vehicle_dtcs"
        " WHERE vehicle_id = %s ORDER BY cleared_at IS NOT NULL, code", (vid,))
    return [{"code": c, "active": cleared is None, "first_seen": iso_z(first),
             "last_seen": iso_z(last), "cleared_at": iso_z(cleared) if cleared else None,
             "episodes": n} for c, first, last, cleared, n in await cur.fetchall()]

