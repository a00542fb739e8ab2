"""The batch writer: one transaction per batch, binary COPY, dedup at message and row level.

A batch commits its samples, events, ingest-log rows, dead letters and the vehicles' latest
state together, so acknowledging the batch's messages after commit loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import psycopg
from psycopg import sql

from decoders.catalog import load_catalog
from decoders.readings import Readings
from timeseries import journal, pgarrays
from timeseries.batch import Envelope, WriteResult, isolate
from timeseries.copybuf import samples_copy_data
from timeseries.errors import classify
from timeseries.partitions import PartitionKeeper, weeks_for
from timeseries.rows import (
    SampleRows,
    assemble,
    flag_odometer,
    hours_touched,
    latest_per_vehicle,
)
from timeseries.schema import Layout
from timeseries.vehicles import VehicleDirectory

HOUR_MS = 3_600_000
# the ingest-log columns sent as arrays, with their array types
_LOG_ARRAYS = {"vehicle_id": "int[]", "seq": "bigint[]", "t0": "bigint[]", "topic": "text[]",
               "decoder": "text[]", "rows": "int[]", "sample_values": "int[]",
               "events": "int[]", "received": "bigint[]"}
_EPOCH = "timestamptz 'epoch' + {} * interval '1 millisecond'"


def _ts(expr: str) -> sql.Composable:
    return sql.SQL(_EPOCH.format(expr))


class BatchWriter:
    """Writes batches of envelopes on one connection."""

    def __init__(self, conn: psycopg.AsyncConnection, layout: Layout) -> None:
        self.conn = conn
        self.layout = layout
        self.columns = load_catalog().columns
        self.column_index = {c: i for i, c in enumerate(self.columns)}
        self.vehicles = VehicleDirectory()
        self.partitions = PartitionKeeper()
        self.owner = 0  # the in-flight journal's owner token of this connection (journal.claim)
        self._stage_ready = False
        cols = [sql.Identifier(c) for c in self.columns]
        merge = sql.SQL(", ").join(
            sql.SQL("{c} = COALESCE(samples.{c}, EXCLUDED.{c})").format(c=c) for c in cols
        )
        fills = sql.SQL(" OR ").join(
            sql.SQL("(samples.{c} IS NULL AND EXCLUDED.{c} IS NOT NULL)").format(c=c) for c in cols
        )
        names = sql.SQL(", ").join(cols)
        self._upsert = sql.SQL(
            "INSERT INTO samples (vehicle_id, ts, flags, {names}) "
            "SELECT vehicle_id, ts, flags, {names} FROM stage_samples "
            "ON CONFLICT (vehicle_id, ts) DO UPDATE SET flags = samples.flags | EXCLUDED.flags, "
            "{merge} WHERE {fills}"
        ).format(names=names, merge=merge, fills=fills)
        copy = "COPY {table} (vehicle_id, ts, flags, {names}) FROM STDIN (FORMAT BINARY)"
        self._copy_samples = sql.SQL(copy).format(table=sql.Identifier("samples"), names=names)
        self._copy_stage = sql.SQL(copy).format(table=sql.Identifier("stage_samples"),
                                                names=names)
        self._stage_ddl = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS stage_samples (vehicle_id int, ts timestamptz, "
            "flags smallint, {defs}) ON COMMIT DELETE ROWS"
        ).format(defs=sql.SQL(", ").join(
            sql.SQL("{} double precision").format(c) for c in cols))

    async def write(self, batch: Sequence[Envelope]) -> WriteResult:
        """Commit one batch; raises Transient/PermanentStorageError on a database failure.
        Anything else (a bug) propagates as it is: it must not become a dead letter."""
        try:
            return await self._write(batch)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            self.vehicles.forget()
            raise classify(exc) from exc
        except BaseException:
            self.vehicles.forget()
            raise

    async def write_isolating(self, batch: Sequence[Envelope]) -> WriteResult:
        """Like write, but a permanent error costs only the messages that cause it (see
        ``isolate``)."""
        return await isolate(self.write, batch)

    async def _write(self, batch: Sequence[Envelope]) -> WriteResult:
        conn = self.conn
        accepted = [e for e in batch if e.readings is not None]
        await self.vehicles.resolve(conn, {e.readings.vin for e in accepted if e.readings})
        if not self.layout.timescale:
            await self.partitions.ensure(conn, weeks_for(_times(accepted)))
        if not self._stage_ready:
            await conn.execute(self._stage_ddl)
            self._stage_ready = True
        result = WriteResult()
        async with conn.transaction():
            fresh = await self._log_messages(accepted)
            result.messages = len(accepted)
            result.duplicates = len(accepted) - len(fresh)
            rows = self._rows(fresh)
            if len(rows):
                await self._store(rows)
            result.rows = len(rows)
            result.values = sum(r.value_count for _, r in fresh)
            result.events, event_times = await self._events(fresh)
            event_times += await self._dtc_reports(fresh)
            event_times += await self._software_reports(fresh)
            result.dead_letters = await self._dead_letters(batch)
            await self._touch_vehicles(accepted, rows, event_times)
            await journal.finish(conn, self.owner, [e.digest for e in batch])
        return result

    async def _log_messages(self, accepted: list[Envelope]) -> list[tuple[Envelope, Readings]]:
        if not accepted:
            return []
        readings = [env.readings for env in accepted if env.readings is not None]
        log: dict[str, list[object]] = {  # column by column, in the order of _LOG_ARRAYS
            "vehicle_id": [self.vehicles.get(r.vin).id for r in readings],
            "seq": [r.seq for r in readings], "t0": [r.t0_ms for r in readings],
            "topic": [env.topic for env in accepted],
            "decoder": [env.decoder for env in accepted],
            "rows": [len(r.ts_ms) for r in readings],
            "sample_values": [r.value_count for r in readings],
            "events": [len(r.events) for r in readings],
            "received": [env.received_ms for env in accepted]}
        assert len(readings) == len(accepted)
        arrays = ", ".join(f"%({name})s::{kind}" for name, kind in _LOG_ARRAYS.items())
        cur = await self.conn.execute(
            sql.SQL(
                "INSERT INTO ingest_log (vehicle_id, seq, t0, topic, decoder, rows, sample_values,"
                " events, received_at) SELECT u.vehicle_id, u.seq, {t0}, u.topic, u.decoder,"
                " u.rows, u.sample_values, u.events, {rcv} FROM unnest(" + arrays + ") AS u("
                + ", ".join(_LOG_ARRAYS) + ") ON CONFLICT DO NOTHING RETURNING vehicle_id, seq,"
                " (extract(epoch FROM t0) * 1000)::bigint"
            ).format(t0=_ts("u.t0"), rcv=_ts("u.received")),
            {name: pgarrays.texts(values) if _LOG_ARRAYS[name] == "text[]"  # type: ignore[arg-type]
             else pgarrays.numbers(values) for name, values in log.items()},  # type: ignore[arg-type]
        )
        new = {(v, s, t) for v, s, t in await cur.fetchall()}
        fresh: list[tuple[Envelope, Readings]] = []
        for env in accepted:
            r = env.readings
            assert r is not None
            key = (self.vehicles.get(r.vin).id, r.seq, r.t0_ms)
            if key in new:
                new.discard(key)  # the same message twice in one batch counts once
                fresh.append((env, r))
        return fresh

    def _rows(self, fresh: list[tuple[Envelope, Readings]]) -> SampleRows:
        parts = [(self.vehicles.get(r.vin).id, r) for _, r in fresh]
        rows = assemble(parts, self.column_index, len(self.columns))
        odo = self.column_index.get("odometer_km")
        if odo is not None and len(rows):
            states = {self.vehicles.get(r.vin).id: self.vehicles.get(r.vin) for _, r in fresh}
            flag_odometer(rows, odo, states)
        return rows

    async def _store(self, rows: SampleRows) -> None:
        """COPY straight into samples; only if some row's key is already there (a resent
        timestamp), merge through the staging table instead."""
        data = samples_copy_data(rows)
        try:
            async with self.conn.transaction():  # a savepoint
                await self._copy(self._copy_samples, data)
        except psycopg.errors.UniqueViolation:
            await self._copy(self._copy_stage, data)
            await self.conn.execute(self._upsert)

    async def _copy(self, statement: sql.Composed, data: bytes) -> None:
        async with self.conn.cursor() as cur, cur.copy(statement) as copy:
            await copy.write(data)

    async def _events(
        self, fresh: list[tuple[Envelope, Readings]]
    ) -> tuple[int, list[tuple[int, int]]]:
        vehicle_ids: list[int] = []
        times: list[int] = []
        types: list[str] = []
        known: list[bool] = []
        attrs: list[str] = []
        for _, r in fresh:
            vid = self.vehicles.get(r.vin).id
            for ev in r.events:
                vehicle_ids.append(vid)
                times.append(ev.t_ms)
                types.append(ev.type)
                known.append(ev.known)
                attrs.append(json.dumps(ev.attrs))
        if not vehicle_ids:
            return 0, []
        cur = await self.conn.execute(
            sql.SQL(
                "INSERT INTO cockpit_events (vehicle_id, ts, type, known, attrs) "
                "SELECT u.v, {ts}, u.ty, u.k, u.a::jsonb FROM unnest(%(vehicle_ids)s::int[],"
                " %(times)s::bigint[], %(types)s::text[], %(known)s::bool[], %(attrs)s::text[])"
                " AS u(v, t, ty, k, a) ON CONFLICT DO NOTHING"
            ).format(ts=_ts("u.t")),
            {"vehicle_ids": vehicle_ids, "times": times, "types": types, "known": known,
             "attrs": attrs},
        )
        return cur.rowcount, list(zip(vehicle_ids, times, strict=True))

    async def _dtc_reports(self, fresh: list[tuple[Envelope, Readings]]
                           ) -> list[tuple[int, int]]:
        """Store the trouble-code reports; returns (vehicle id, t_ms) of each."""
        vehicle_ids: list[int] = []
        times: list[int] = []
        codes: list[str] = []
        for _, r in fresh:
            vid = self.vehicles.get(r.vin).id
            for t, report in r.dtc_reports:
                vehicle_ids.append(vid)
                times.append(t)
                codes.append(",".join(report))  # codes never hold a comma (catalog pattern)
        if vehicle_ids:
            await self.conn.execute(
                sql.SQL(
                    "INSERT INTO dtc_reports (vehicle_id, ts, codes) SELECT u.v, {ts},"
                    " coalesce(string_to_array(nullif(u.c, ''), ','), ARRAY[]::text[])"
                    " FROM unnest(%(v)s::int[], %(t)s::bigint[], %(c)s::text[]) AS u(v, t, c)"
                    " ON CONFLICT DO NOTHING"
                ).format(ts=_ts("u.t")), {"v": vehicle_ids, "t": times, "c": codes})
        return list(zip(vehicle_ids, times, strict=True))

    async def _software_reports(self, fresh: list[tuple[Envelope, Readings]]
                                ) -> list[tuple[int, int]]:
        """Store the software-version reports; returns (vehicle id, t_ms) of each."""
        columns: dict[str, list[object]] = {"v": [], "t": [], "c": [], "s": []}
        for _, r in fresh:
            vid = self.vehicles.get(r.vin).id
            for t, component, version in r.software_reports:
                for key, value in zip("vtcs", (vid, t, component, version), strict=True):
                    columns[key].append(value)
        if columns["v"]:
            await self.conn.execute(
                sql.SQL(
                    "INSERT INTO software_reports (vehicle_id, component, ts, version)"
                    " SELECT u.v, u.c, {ts}, u.s FROM unnest(%(v)s::int[], %(t)s::bigint[],"
                    " %(c)s::text[], %(s)s::text[]) AS u(v, t, c, s) ON CONFLICT DO NOTHING"
                ).format(ts=_ts("u.t")), columns)
        return list(zip(columns["v"], columns["t"], strict=True))  # type: ignore[arg-type]

    async def _dead_letters(self, batch: Sequence[Envelope]) -> int:
        bad = [e for e in batch if e.rejections]
        if not bad:
            return 0
        async with self.conn.cursor() as cur:
            await cur.executemany(
                sql.SQL(
                    "INSERT INTO dead_letters (digest, topic, vin, decoder, reason_code, reason,"
                    " details, partial, payload, size, received_at, last_received_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, {r}, {r})"
                    " ON CONFLICT (digest) DO UPDATE SET times = dead_letters.times + 1,"
                    " last_received_at = EXCLUDED.last_received_at"
                ).format(r=_ts("%s")),
                [
                    (e.digest, e.topic, e.vin, e.decoder, e.rejections[0].code,
                     e.rejections[0].detail,
                     json.dumps([{"code": x.code, "detail": x.detail} for x in e.rejections[:50]]),
                     e.readings is not None, e.payload, len(e.payload), e.received_ms,
                     e.received_ms)
                    for e in bad
                ],
            )
        return len(bad)

    async def _touch_vehicles(
        self, accepted: list[Envelope], rows: SampleRows, new_event_times: list[tuple[int, int]],
    ) -> None:
        """Latest state, and the time range derivations must look at again (dirty)."""
        if not accepted:
            return
        seen: dict[int, list[int]] = {}  # id -> [received, last sample]
        for env in accepted:
            assert env.readings is not None
            vid = self.vehicles.get(env.readings.vin).id
            entry = seen.setdefault(vid, [env.received_ms, 0])
            entry[0] = max(entry[0], env.received_ms)
        for vid, ts in latest_per_vehicle(rows).items():
            seen[vid][1] = max(seen[vid][1], ts)
        hours = hours_touched(rows, HOUR_MS) if len(rows) else set()
        hours.update((vid, t // HOUR_MS) for vid, t in new_event_times)
        ids = sorted(seen)
        states = {self.vehicles.get(e.readings.vin).id: self.vehicles.get(e.readings.vin)
                  for e in accepted if e.readings}
        await self.conn.execute(
            sql.SQL(
                "UPDATE vehicles v SET last_seen = greatest(v.last_seen, {seen}),"
                " last_sample_at = greatest(v.last_sample_at, {sample}),"
                " odometer_km = CASE WHEN u.oa IS NOT NULL AND (v.odometer_at IS NULL OR"
                " {oa} > v.odometer_at) THEN u.o ELSE v.odometer_km END,"
                " odometer_at = greatest(v.odometer_at, {oa})"
                " FROM unnest(%s::int[], %s::bigint[], %s::bigint[], %s::float8[], %s::bigint[])"
                " AS u(id, s, ls, o, oa) WHERE v.id = u.id"
            ).format(seen=_ts("u.s"), sample=_ts("nullif(u.ls, 0)"), oa=_ts("u.oa")),
            [pgarrays.numbers(c) for c in (
                ids, [seen[i][0] for i in ids], [seen[i][1] for i in ids],
                [states[i].odometer_km for i in ids], [states[i].odometer_at_ms for i in ids])],
        )
        if hours:
            pairs = sorted(hours)
            await self.conn.execute(
                # touching an existing row tells a derivation running now that this hour
                # got more data after it read the hour (it only clears what it saw)
                "INSERT INTO dirty_hours (vehicle_id, hour) SELECT * FROM unnest(%s::int[],"
                " %s::bigint[]) ON CONFLICT (vehicle_id, hour) DO UPDATE"
                " SET touched_at = clock_timestamp()",
                (pgarrays.numbers(p[0] for p in pairs), pgarrays.numbers(p[1] for p in pairs)))


def _times(accepted: list[Envelope]) -> list[int]:
    out: list[int] = []
    for env in accepted:
        r = env.readings
        assert r is not None
        out.append(r.t0_ms)
        if r.ts_ms:
            out.append(min(r.ts_ms))
            out.append(max(r.ts_ms))
        out.extend(e.t_ms for e in r.events)
    return out
