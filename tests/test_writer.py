"""The batch writer against a real PostgreSQL: dedup, merge, flags, error isolation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import psycopg
import pytest

from decoders.errors import Rejected
from decoders.registry import decode_message
from gateway.schema import migrate
from timeseries.batch import Envelope
from timeseries.db import connect
from timeseries.errors import PermanentStorageError, TransientStorageError, classify
from timeseries.writer import BatchWriter

pytestmark = pytest.mark.live
VIN = "LSVAU2180N2183294"
NOW = int(time.time() * 1000)
T0 = NOW - 3_600_000


def env(seq: int, signals: dict[str, list[Any]], dt: list[int], t0: int = T0) -> Envelope:
    topic = f"vehicles/{VIN}/telemetry"
    payload = msgpack.packb({"v": 1, "vin": VIN, "seq": seq, "t0": t0, "dt": dt,
                             "signals": signals})
    try:
        r = decode_message(topic, payload, NOW)
    except Rejected as exc:
        return Envelope(topic, payload, NOW, "msgpack_v1", None, [exc.rejection])
    return Envelope(topic, payload, NOW, "msgpack_v1", r, list(r.rejections))


@pytest.fixture
async def writer(db_url: str) -> AsyncIterator[BatchWriter]:
    conn = await connect(db_url)
    layout = await migrate(conn)
    yield BatchWriter(conn, layout)
    await conn.close()


async def rows(w: BatchWriter, q: str) -> list[tuple[Any, ...]]:
    cur = await w.conn.execute(q)
    return await cur.fetchall()


async def test_redelivery_and_resend_are_stored_once_and_merged(writer: BatchWriter) -> None:
    a = env(1, {"Vehicle.Speed": [10.0, 11.0]}, [0, 1000])
    resend = env(9, {"Vehicle.Speed": [99.0, 12.0], "Vehicle.TraveledDistance": [5.0, 5.1]},
                 [1000, 2000])
    r1 = await writer.write_isolating([a, a])
    assert (r1.messages, r1.duplicates, r1.rows) == (2, 1, 2)
    r2 = await writer.write_isolating([a, resend])
    assert r2.duplicates == 1
    got = await rows(writer, f"SELECT (extract(epoch FROM ts)*1000)::bigint - {T0}, speed_kmh,"
                             " odometer_km FROM samples ORDER BY ts")
    # first value wins per (vehicle, signal, time); a missing signal is filled in later
    assert got == [(0, 10.0, None), (1000, 11.0, 5.0), (2000, 12.0, 5.1)]
    assert (await rows(writer, "SELECT count(*) FROM ingest_log"))[0][0] == 2


async def test_trouble_code_reports_are_stored_once_with_empty_lists(writer: BatchWriter
                                                                      ) -> None:
    a = env(1, {"Vehicle.OBD.DTCList": [["P0302", "B1A00"], [], None],
                "Vehicle.Speed": [0.0, 1.0, 2.0]}, [0, 1000, 2000])
    again = env(2, {"Vehicle.OBD.DTCList": [[]]}, [1000])  # resent: the first report stays
    only = env(3, {"Vehicle.OBD.DTCList": [["U0100"]]}, [5000])
    result = await writer.write_isolating([a, again, only])
    assert (result.messages, result.dead_letters) == (3, 0)
    got = await rows(writer, f"SELECT (extract(epoch FROM ts)*1000)::bigint - {T0}, codes"
                             " FROM dtc_reports ORDER BY ts")
    assert got == [(0, ["B1A00", "P0302"]), (1000, []), (5000, ["U0100"])]
    assert (await rows(writer, "SELECT count(*) FROM dead_letters"))[0][0] == 0


async def test_software_reports_are_stored_once_and_bad_versions_dead_lettered(
        writer: BatchWriter) -> None:
    hu, ve = "Vehicle.Cabin.Infotainment.SoftwareVersion", "Vehicle.SoftwareVersion"
    a = env(1, {hu: ["5.1.2", None, "5.2.0"], ve: ["2026.38.1", None, None],
                "Vehicle.Speed": [0.0, 1.0, 2.0]}, [0, 1000, 2000])
    again = env(2, {hu: ["9.9.9"]}, [0])  # resent instant: the first report stays
    bad = env(3, {hu: ["5.2.0 beta", 7], "Vehicle.Speed": [3.0, 4.0]}, [3000, 4000])
    short = env(4, {hu: ["5.2.0"], "Vehicle.Speed": [5.0, 6.0]}, [5000, 6000])
    result = await writer.write_isolating([a, again, bad, short])
    assert (result.messages, result.dead_letters) == (4, 2)
    got = await rows(writer, f"SELECT component, (extract(epoch FROM ts)*1000)::bigint - {T0},"
                             " version FROM software_reports ORDER BY 1, 2")
    assert got == [("head_unit", 0, "5.1.2"), ("head_unit", 2000, "5.2.0"),
                   ("vehicle", 0, "2026.38.1")]
    reasons = await rows(writer, "SELECT reason_code, reason FROM dead_letters ORDER BY id")
    assert reasons == [
        ("bad_value", f"{hu}[0]: '5.2.0 beta' does not match ^[0-9A-Za-z][0-9A-Za-z._+-]{{0,63}}$"),
        ("length_mismatch", f"{hu}: expected a list of 2 values (one per row)")]


async def test_odometer_going_backwards_is_kept_and_flagged(writer: BatchWriter) -> None:
    await writer.write_isolating([env(1, {"Vehicle.TraveledDistance": [100.0, 100.5]}, [0, 1000])])
    await writer.write_isolating([env(2, {"Vehicle.TraveledDistance": [99.0, 100.6]},
                                      [2000, 3000])])
    got = await rows(writer, "SELECT odometer_km, flags FROM samples ORDER BY ts")
    assert got == [(100.0, 0), (100.5, 0), (99.0, 1), (100.6, 0)]
    assert (await rows(writer, "SELECT odometer_km FROM vehicles"))[0][0] == 100.6


async def test_dead_letters_keep_raw_bytes_and_count_redeliveries(writer: BatchWriter) -> None:
    bad = env(1, {"Vehicle.Speed": [912.0, 913.0]}, [0, 1000])
    partial = env(2, {"Vehicle.Speed": [912.0, 20.0]}, [0, 1000])
    await writer.write_isolating([bad, partial, bad])
    got = await rows(writer, "SELECT reason_code, reason, partial, times, payload, size"
                             " FROM dead_letters ORDER BY id")
    assert got == [
        ("out_of_range", "signal Vehicle.Speed: 912.0 outside 0..500 km/h", False, 2,
         bad.payload, len(bad.payload)),
        ("out_of_range", "signal Vehicle.Speed: 912.0 outside 0..500 km/h", True, 1,
         partial.payload, len(partial.payload)),
    ]
    assert (await rows(writer, "SELECT speed_kmh FROM samples"))[0][0] == 20.0


async def test_a_permanent_error_costs_only_the_culprit(writer: BatchWriter) -> None:
    await writer.conn.execute("ALTER TABLE samples ADD CONSTRAINT no_123 CHECK (speed_kmh <> 123)")
    good = [env(i, {"Vehicle.Speed": [float(i)]}, [i * 1000]) for i in range(1, 8)]
    culprit = env(50, {"Vehicle.Speed": [123.0]}, [50_000])
    result = await writer.write_isolating([*good[:3], culprit, *good[3:]])
    assert [e.payload for e in result.rejected_by_storage] == [culprit.payload]
    assert (await rows(writer, "SELECT count(*) FROM samples"))[0][0] == 7
    (code, reason), = await rows(writer, "SELECT reason_code, reason FROM dead_letters")
    assert code == "storage" and "no_123" in reason


async def test_partitions_are_created_for_late_data(writer: BatchWriter) -> None:
    old = NOW - 400 * 86_400_000
    await writer.write_isolating([env(1, {"Vehicle.Speed": [1.0]}, [0], t0=old)])
    assert (await rows(writer, "SELECT count(*) FROM samples"))[0][0] == 1


def test_error_classification() -> None:
    assert isinstance(classify(psycopg.OperationalError("server closed")), TransientStorageError)
    assert isinstance(classify(psycopg.errors.DeadlockDetected()), TransientStorageError)
    assert isinstance(classify(psycopg.errors.DiskFull()), TransientStorageError)
    assert isinstance(classify(psycopg.errors.CheckViolation()), PermanentStorageError)
    assert isinstance(classify(psycopg.errors.NumericValueOutOfRange()), PermanentStorageError)
    # operator problems are retried, never dead-lettered
    assert isinstance(classify(psycopg.errors.InsufficientPrivilege()), TransientStorageError)
    assert isinstance(classify(psycopg.errors.UndefinedTable()), TransientStorageError)
    assert isinstance(classify(OSError(28, "No space left on device")), TransientStorageError)


async def test_a_batch_of_mixed_signal_sets_and_gaps_is_stored_exactly(
        writer: BatchWriter) -> None:
    # several null patterns and signal sets in one batch: one COPY group per pattern
    batch = [
        env(1, {"Vehicle.Speed": [10.0, None, 12.0], "Vehicle.TraveledDistance": [1.0, 1.1, 1.2]},
            [0, 1000, 2000]),
        env(2, {"Vehicle.LowVoltageSystemState": ["ON", "OFF"], "Vehicle.Speed": [5.0, 6.0]},
            [3000, 4000]),
        env(3, {"Vehicle.Speed": [None, None], "Vehicle.CurrentLocation.Latitude": [48.1, None]},
            [5000, 6000]),
        env(4, {"Vehicle.Speed": [7.0], "Vehicle.TraveledDistance": [1.3]}, [7000]),
    ]
    result = await writer.write_isolating(batch)
    assert (result.messages, result.rows, result.values) == (4, 7, 12)
    got = await rows(writer, f"SELECT (extract(epoch FROM ts)*1000)::bigint - {T0}, speed_kmh,"
                             " odometer_km, ignition, latitude FROM samples ORDER BY ts")
    # the all-null row at 6000 is not stored; enums as catalog index (ON = 2, OFF = 0)
    assert got == [(0, 10.0, 1.0, None, None), (1000, None, 1.1, None, None),
                   (2000, 12.0, 1.2, None, None), (3000, 5.0, None, 2.0, None),
                   (4000, 6.0, None, 0.0, None), (5000, None, None, None, 48.1),
                   (7000, 7.0, 1.3, None, None)]
