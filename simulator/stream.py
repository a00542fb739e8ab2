"""From vehicle chunks to MQTT messages in send order, with faults injected."""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from simulator.fleet import VehicleSpec
from simulator.garbage import EXPECTED_CODE, KINDS, garbage
from simulator.software import history_truth
from simulator.truth import FleetTruth, VehicleTruth
from simulator.vehicle import VehicleLife
from simulator.wire import payloads


@dataclass(frozen=True, slots=True)
class Faults:
    """Probabilities per message (gaps: per message, a 10-minute outage starts)."""

    duplicates: float = 0.0
    reorder: float = 0.0
    gaps: float = 0.0
    garbage: float = 0.0
    gap_minutes: int = 10


@dataclass(order=True, slots=True)
class Outgoing:
    """One MQTT publish."""

    send_ms: int
    order: int
    topic: str = field(compare=False)
    payload: bytes = field(compare=False)


def vehicle_stream(spec: VehicleSpec, start: date, days: int, seed: int, heartbeat_s: int,
                   faults: Faults, fleet_truth: FleetTruth, sample_s: int = 1
                   ) -> Iterator[Outgoing]:
    """One vehicle's publishes in send order (faults may delay some by up to a week)."""
    meta = {"model": spec.model, "powertrain": spec.powertrain, "timezone": spec.tz,
            "delivered_on": spec.delivered_on.isoformat(), "owner_id": spec.owner_id,
            "dealer_id": spec.dealer_id, "persona": spec.persona, "domains": list(spec.domains),
            "wire": spec.wire, "dormant_from_day": spec.dormant_from_day,
            "advisor_id": spec.advisor_id, "owner_channel": spec.owner_channel,
            "silent_from_day": spec.silent_from_day, "fading_from_day": spec.fading_from_day,
            "owner_type": spec.owner_type,
            "home_lat": round(spec.home_lat, 6), "home_lon": round(spec.home_lon, 6),
            "habits": {f: on.isoformat() if on else None for f, on in spec.habits},
            "registered_as": spec.registered_as or spec.owner_id,
            "ownership": [{"owner_id": o, "from": d.isoformat()} for o, d in
                          ((spec.owner_id, spec.delivered_on), *spec.transfers)]}
    truth = fleet_truth.vehicles[spec.vin] = VehicleTruth(spec.vin, meta)
    life = VehicleLife(spec, start, days, seed, heartbeat_s, truth, sample_s)
    rng = np.random.default_rng([seed, spec.index, 3])
    offline = (0, 0)
    if spec.offline_from_day is not None:
        lo = life.day_bounds(start)[0] + spec.offline_from_day * 86_400_000
        offline = (lo, lo + spec.offline_days * 86_400_000)
    heap: list[Outgoing] = []
    order = spec.index << 32
    gap_until = 0
    wall_now = int(time.time() * 1000)
    seq = 0
    for _, chunk in life.chunks():
        outs = list(payloads(chunk, spec.vin, spec.model, spec.wire, seq))
        seq += len(outs)
        truth.messages += len(outs)
        send = chunk.send_ms
        if offline[0] <= send < offline[1]:
            send = offline[1] + int(rng.integers(0, 60_000))
            fleet_truth.faults["offline_catchup"] += 1
        elif send < gap_until:
            send = gap_until + int(rng.integers(0, 5_000))
            fleet_truth.faults["gap_catchup"] += 1
        elif rng.random() < faults.gaps:
            gap_until = send + faults.gap_minutes * 60_000
            send = gap_until
            fleet_truth.faults["gap_catchup"] += 1
        if rng.random() < faults.reorder:
            send += int(rng.integers(2_000, 60_000))
            fleet_truth.faults["reordered"] += 1
        for topic, payload in outs:
            order += 1
            heapq.heappush(heap, Outgoing(send, order, topic, payload))
        if rng.random() < faults.duplicates:
            again = send + int(rng.integers(0, 30_000))
            for topic, payload in outs:
                order += 1
                heapq.heappush(heap, Outgoing(again, order, topic, payload))
            fleet_truth.faults["duplicated"] += 1
        if rng.random() < faults.garbage:
            kind = KINDS[len(fleet_truth.garbage) % len(KINDS)]
            bad = garbage(kind, spec.vin, 10**9 + seq, chunk.t0, rng, wall_now)
            bad_topic = f"vehicles/{spec.vin}/telemetry"
            fleet_truth.garbage.append({
                "topic": bad_topic, "kind": kind, "reason_code": EXPECTED_CODE[kind],
                "digest": hashlib.sha256(bad_topic.encode() + b"\0" + bad).hexdigest()})
            order += 1
            heapq.heappush(heap, Outgoing(send + 1, order, bad_topic, bad))
        while heap and heap[0].send_ms <= chunk.send_ms:  # later messages are never earlier
            yield heapq.heappop(heap)
    while heap:
        yield heapq.heappop(heap)
    truth.meta["service_book"] = [
        {"done_on": v.done_on.isoformat(), "odometer_km": v.odometer_km, "items": list(v.items),
         "engine_hours": v.engine_hours, "dealer_id": spec.dealer_id}
        for v in life.schedule.book]
    truth.service = life.schedule.truth()
    truth.service["dtcs"] = life.dtc_truth()
    truth.meta["software"] = history_truth(life.software_log)
    plan = spec.software
    truth.meta["head_unit_update_on"] = None if plan.head_unit_day is None else (
        start + timedelta(days=plan.head_unit_day)).isoformat()
    truth.meta["consumption"] = life.consumption()
    truth.sessions = life.session_truth()
    if life.condition.ev:
        truth.meta["soh_per_year"] = life.soh_rates


def fleet_stream(fleet: list[VehicleSpec], start: date, days: int, seed: int,
                 heartbeat_s: int, faults: Faults, truth: FleetTruth, sample_s: int = 1
                 ) -> Iterator[Outgoing]:
    """Every vehicle's publishes merged in send order; ``sample_s``: seconds between rows
    while driving (1 by default; larger makes long simulations cheaper)."""
    streams = [vehicle_stream(v, start, days, seed, heartbeat_s, faults, truth, sample_s)
               for v in fleet]
    return heapq.merge(*streams)
