"""The derivation loop: for each vehicle with new data, redo the affected trips and days,
then its activity segments and service position, emitting feed events once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from features import engagement, profile_store, silence, software
from features.feature_days import recompute_feature_days
from features.reminder_store import VehicleRef
from features.rollups import local_day, recompute_days, recompute_region
from features.segment_events import emit_changes
from features.segments import (
    ActivityRules,
    activity_history,
    activity_rules,
)
from features.service_pass import service_pass
from features.session_store import recompute_sessions
from features.trips import TripRules
from timeseries.writer import HOUR_MS

log = logging.getLogger(__name__)
VEHICLE_LOCK = 7_347_100  # pg_advisory_xact_lock(VEHICLE_LOCK, vehicle id): one deriver each
BACKOFF_FIRST_S, BACKOFF_MAX_S = 60.0, 3600.0


@dataclass(frozen=True, slots=True)
class DeriveSettings:
    """Derivation rules and defaults."""

    trips: TripRules = field(default_factory=TripRules)
    activity: ActivityRules = field(default_factory=activity_rules)
    default_timezone: str = "UTC"
    settle_s: int = 3600           # a local day is final once data is this far past its end
    disagreement_km: float = 1000  # vehicle's DistanceToService vs ours
    visit_minutes: float = 30      # a stay at a dealer this long in opening hours is a visit
    silent_hours: float = 48       # no message this long: silent, days settle on the clock
    min_gap_s: float = 0           # a vehicle's passes at least this far apart (0: any time)


@dataclass(slots=True)
class _Vehicle:
    id: int
    vin: str
    tz: ZoneInfo
    model: str | None
    powertrain: str | None
    delivered_on: date | None
    owner_id: str | None
    owner_channel: str | None
    dealer_id: str | None
    advisor_id: str | None
    last_sample_at: datetime | None
    odometer_km: float | None
    last_seen: datetime | None


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def hour_ranges(hours: list[int], join_gap: int = 3) -> list[tuple[int, int]]:
    """Sorted dirty hours as ranges, joining hours less than ``join_gap`` apart."""
    out: list[tuple[int, int]] = []
    for h in hours:
        if out and h - out[-1][1] < join_gap:
            out[-1] = (out[-1][0], h)
        else:
            out.append((h, h))
    return out


class Deriver:
    """Runs derivations on one connection.

    ``shard`` (k, n): this deriver takes the vehicles whose id is k modulo n, so that n
    derivers (n connections, one database backend each) share the dirty vehicles without
    waiting for each other's advisory locks. ``pipelined``: a vehicle's pass runs in
    pipeline mode, where a statement whose result is not read costs no round trip (off only
    to measure the difference)."""

    def __init__(self, conn: psycopg.AsyncConnection, settings: DeriveSettings,
                 clock: Callable[[], float] = time.monotonic,
                 shard: tuple[int, int] = (0, 1), pipelined: bool = True) -> None:
        self.conn = conn
        self.settings = settings
        self.shard = shard
        self.pipelined = pipelined
        self.events_emitted = 0
        self.errors = 0  # vehicles whose derivation raised (each is retried with backoff)
        self.clock = clock
        self._backoff: dict[int, tuple[float, float]] = {}  # vehicle -> (retry at, delay)
        self._last_pass: dict[int, float] = {}  # vehicle -> when its last pass ended

    async def run_pending(self, limit: int = 200) -> int:
        """Derive up to ``limit`` dirty vehicles; returns how many were done. A vehicle
        derived less than ``min_gap_s`` ago waits (its hours stay dirty), so the passes of
        a car that keeps sending are coalesced instead of following every batch."""
        now = self.clock()
        waiting = [vid for vid, (at, _) in self._backoff.items() if at > now]
        if self._last_pass:
            gap = self.settings.min_gap_s
            self._last_pass = {v: t for v, t in self._last_pass.items() if now - t < gap}
            waiting += self._last_pass
        cur = await self.conn.execute(
            "SELECT vehicle_id FROM dirty_hours WHERE vehicle_id <> ALL(%s::int[])"
            " AND vehicle_id %% %s = %s GROUP BY 1 ORDER BY min(hour) LIMIT %s",
            (waiting, self.shard[1], self.shard[0], limit))
        done = 0
        for (vid,) in await cur.fetchall():
            try:
                done += await self.derive_vehicle(vid)
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError):
                raise  # the database is away: the caller pauses every derivation
            except Exception as exc:
                self._failed(vid, exc)
            else:
                self._backoff.pop(vid, None)
                if self.settings.min_gap_s > 0:
                    self._last_pass[vid] = self.clock()
        return done

    def _failed(self, vid: int, exc: Exception) -> None:
        """Count, log once per failure streak, and retry this vehicle later with backoff
        (1 minute doubling to 1 hour); every other vehicle keeps being derived."""
        self.errors += 1
        _, delay = self._backoff.get(vid, (0.0, 0.0))
        delay = min(max(delay * 2, BACKOFF_FIRST_S), BACKOFF_MAX_S)
        self._backoff[vid] = (self.clock() + delay, delay)
        log.error("derivation of vehicle %d failed (retry in %.0f s): %s: %s", vid, delay,
                  type(exc).__name__, exc, exc_info=delay == BACKOFF_FIRST_S)

    async def derive_vehicle(self, vid: int) -> bool:
        """One vehicle, in one transaction; False if another replica holds it."""
        async with self._pipeline(), self.conn.transaction():
            # asked together (one round trip in pipeline mode); run in order, so the reads
            # come after the lock
            cur = await self.conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)",
                                          (VEHICLE_LOCK, vid))
            vehicle = await self._ask_vehicle(vid)
            hours_cur = await self.conn.execute(
                "SELECT hour, touched_at FROM dirty_hours WHERE vehicle_id = %s ORDER BY hour",
                (vid,))
            row = await cur.fetchone()
            if not row or not row[0]:
                return False
            v = await self._vehicle(vehicle)
            seen = await hours_cur.fetchall()
            hours = [int(r[0]) for r in seen]
            if v is None or not hours:
                return False
            days: set[date] = set()
            for lo_h, hi_h in hour_ranges(hours):
                _, touched = await recompute_region(
                    self.conn, vid, lo_h * HOUR_MS, (hi_h + 1) * HOUR_MS - 1, v.tz,
                    self.settings.trips)
                days |= touched
                await recompute_sessions(self.conn, vid, lo_h * HOUR_MS,
                                         (hi_h + 1) * HOUR_MS - 1, v.tz, v.model)
            await recompute_days(self.conn, vid, days, v.tz, hours)
            hour_days = {local_day(h * HOUR_MS, v.tz) for h in hours}
            await recompute_feature_days(self.conn, vid, days | hour_days, v.tz)
            self.events_emitted += await software.refresh(
                self.conn, vid, v.vin, v.tz, hours, v.owner_id, v.dealer_id)
            # an hour may be dirty for engagement alone: its day's activity is redone too
            await self._segments(v, days | hour_days)
            await self._service(v)
            await self.conn.execute(
                "DELETE FROM dirty_hours d USING unnest(%s::bigint[], %s::timestamptz[])"
                " AS u(h, t) WHERE d.vehicle_id = %s AND d.hour = u.h AND d.touched_at = u.t",
                (hours, [r[1] for r in seen], vid))
            await profile_store.mark(self.conn, vid)
            log.debug("derived %s: %d hours, %d days", v.vin, len(hours), len(days))
            return True

    def _pipeline(self) -> AbstractAsyncContextManager[object]:
        return self.conn.pipeline() if self.pipelined else nullcontext()

    async def settle_by_clock(self, now: datetime) -> int:
        """Vehicles without any message for ``silent_hours``: their days settle on the wall
        clock (activity moves on as days pass without driving) and each silence is one
        ``vehicle_silent`` event. Returns the vehicles settled."""
        silent_since = now - timedelta(hours=self.settings.silent_hours)
        cur = await self.conn.execute(
            "SELECT id, last_seen FROM vehicles WHERE last_sample_at IS NOT NULL"
            " AND last_seen < %s ORDER BY id", (silent_since,))
        done = 0
        for vid, last_seen in await cur.fetchall():
            async with self.conn.transaction():
                cur = await self.conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)",
                                              (VEHICLE_LOCK, vid))
                row = await cur.fetchone()
                v = await self._load(vid) if row and row[0] else None
                if v is None:
                    continue
                settled = local_day(_ms(now) - self.settings.settle_s * 1000, v.tz) \
                    - timedelta(days=1)
                await self._segments(v, set(), settled)
                await profile_store.mark(self.conn, vid)
                self.events_emitted += await silence.emit_silent(
                    self.conn, v.id, v.vin, v.owner_id, v.dealer_id, last_seen,
                    self.settings.silent_hours)
                done += 1
        return done

    async def _load(self, vid: int) -> _Vehicle | None:
        return await self._vehicle(await self._ask_vehicle(vid))

    async def _ask_vehicle(self, vid: int) -> psycopg.AsyncCursor[dict[str, Any]]:
        cur = self.conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id, vin, timezone, model, powertrain, delivered_on,"
            " owner_id, owner_channel, dealer_id, advisor_id, last_sample_at, odometer_km,"
            " last_seen FROM vehicles WHERE id = %s", (vid,))
        return cur

    async def _vehicle(self, cur: psycopg.AsyncCursor[dict[str, Any]]) -> _Vehicle | None:
        r = await cur.fetchone()
        await cur.close()
        if r is None:
            return None
        r["tz"] = ZoneInfo(r.pop("timezone") or self.settings.default_timezone)
        return _Vehicle(**r)

    async def _segments(self, v: _Vehicle, days: set[date],
                        clock_settled: date | None = None) -> None:
        """Activity per settled day from the first changed day on. Days settle on the data
        clock, or for a silent vehicle (``clock_settled``) on the wall clock; with new data
        the days the wall clock settled beyond the data are provisional and go."""
        if v.last_sample_at is None or (not days and clock_settled is None):
            return
        settled_to = clock_settled or local_day(
            _ms(v.last_sample_at) - self.settings.settle_s * 1000, v.tz) - timedelta(days=1)
        cur = await self.conn.execute(
            "SELECT (SELECT min(day) FROM daily_usage WHERE vehicle_id = %s),"
            " (SELECT max(day) FROM segment_days WHERE vehicle_id = %s)", (v.id, v.id))
        row = await cur.fetchone()
        assert row is not None
        first_day, last_done = row
        if clock_settled is None and last_done is not None and last_done > settled_to:
            if await silence.still_silent(self.conn, v.vin, v.last_seen):
                settled_to = last_done  # e.g. app engagement only: the clock's days stand
            else:
                await self.conn.execute("DELETE FROM segment_days WHERE vehicle_id = %s"
                                        " AND day > %s", (v.id, settled_to))
                last_done = settled_to
        if first_day is None:
            return
        start = min(days) if days else first_day
        if last_done is not None:
            start = min(start, last_done + timedelta(days=1)) if days \
                else last_done + timedelta(days=1)
        start = max(start, first_day)
        if start > settled_to:
            return
        window = self.settings.activity.window
        rules, lo = self.settings.activity, start - timedelta(days=2 * window)
        cur = await self.conn.execute(
            "SELECT day, km, trips, EXISTS (SELECT 1 FROM jsonb_each_text(cockpit) c"
            " WHERE c.key <> 'other' AND c.value::int > 0) FROM daily_usage"
            " WHERE vehicle_id = %s AND day >= %s AND day <= %s", (v.id, lo, settled_to))
        rows = await cur.fetchall()
        daily = {d: (km, n) for d, km, n, _ in rows}
        extra = await engagement.day_scores(self.conn, v.id, v.vin, v.tz, lo, settled_to, rules)
        cockpit_weight = rules.weight("cockpit")
        for d, *_, cockpit in rows:
            extra[d] = extra.get(d, 0.0) + (cockpit_weight if cockpit else 0.0)
        history = activity_history(daily, first_day, start, settled_to, rules, extra)
        cur = await self.conn.execute(
            "SELECT day, activity FROM segment_days WHERE vehicle_id = %s AND day >= %s",
            (v.id, start - timedelta(days=1)))
        before: dict[date, str] = dict(await cur.fetchall())
        prev = before.get(start - timedelta(days=1))
        async with self.conn.cursor() as c:
            await c.executemany(
                "INSERT INTO segment_days (vehicle_id, day, activity) VALUES (%s, %s, %s)"
                " ON CONFLICT (vehicle_id, day) DO UPDATE SET activity = EXCLUDED.activity",
                [(v.id, d, a) for d, a in sorted(history.items())])
        self.events_emitted += await emit_changes(self.conn, v, history, prev, before)
        await self.conn.execute("UPDATE vehicles SET activity = %s WHERE id = %s",
                                (history[settled_to], v.id))

    async def _service(self, v: _Vehicle) -> None:
        if v.last_sample_at is None or v.delivered_on is None:
            return
        settled_to = local_day(_ms(v.last_sample_at) - self.settings.settle_s * 1000, v.tz) \
            - timedelta(days=1)
        ref = VehicleRef(v.id, v.vin, v.tz, v.model, v.powertrain, v.delivered_on, v.owner_id,
                         v.owner_channel, v.dealer_id, v.advisor_id)
        self.events_emitted += await service_pass(
            self.conn, ref, v.last_sample_at, settled_to, self.settings.default_timezone,
            self.settings.disagreement_km, self.settings.visit_minutes)
