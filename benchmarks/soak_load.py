"""One publisher of the soak: its slice of a fleet, on the fleet's schedule, in real time.

    python -m benchmarks.soak_load URL PART PARTS --cars N --start EPOCH_S \\
        --seconds S --driving SHARE

Car ``c`` belongs to this publisher when ``c % PARTS == PART``. Its wire format is fixed
by ``c % 100`` (45 % MessagePack, 20 % JSON, 30 % CAN, 5 % protobuf). A share of the fleet
drives (``c % 1000 < SHARE * 1000``): each driving car sends one 10-second window every
10 s, at second ``c % 10``; every other car sends a parked heartbeat every 15 minutes, at
second ``c % 900``. 2 % of the windows are sent twice (a car that missed the PUBACK). Cars
with ``c % 200 == 7`` are offline for the first half of the run and then send what they
missed at once (catch-ups). A message's newest sample is stamped with the second it is
due, so if the publisher runs late that counts as lag too.

Prints one JSON line: messages sent (unique, duplicates, catch-ups), the most it ran behind
its schedule, and its CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np

from benchmarks.loadgen import WINDOW, connect
from benchmarks.soak_templates import CarTemplates, Template, make_templates, vin
from gateway.mqtt import codec as mc

WIRE_OF = ["msgpack"] * 45 + ["json"] * 20 + ["can"] * 30 + ["pb"] * 5
PEAK_SHARE = 0.30  # of the fleet driving at once at the commute peak
MSG_PER_CAR_S = {"driving": 0.1, "parked": 1 / 900}  # a window per 10 s; a beat per 15 min


def fleet_rate(cars: int, share: float) -> float:
    """Messages per second a fleet of ``cars`` offers with ``share`` of it driving (a
    protobuf car sends its window as ten records)."""
    pb = WIRE_OF.count("pb") / len(WIRE_OF)
    driving = cars * share * MSG_PER_CAR_S["driving"] * (1 - pb + pb * 10)
    return driving + cars * (1 - share) * MSG_PER_CAR_S["parked"]


def drives(car: int, share: float) -> bool:
    """Whether the car is among the ``share`` of the fleet driving."""
    return car % 1000 < round(share * 1000)


def catching_up(car: int) -> bool:
    """Whether the car is offline for the first half of the run (its catch-up comes later)."""
    return car % 200 == 7


class Sender:
    """Publishes rendered templates at QoS 1 with a bounded window of PUBACKs."""

    def __init__(self, transport: asyncio.Transport, room: asyncio.Semaphore) -> None:
        self.transport, self.room = transport, room
        self.sent = self.duplicates = self.catchups = 0
        self._pid = 0

    async def send(self, car: int, window: list[Template], seq: int, newest_ms: int,
                   twice: bool = False) -> None:
        """One window of one car (all its messages)."""
        car_vin = vin(car)
        raw = car_vin.encode()
        for i, tpl in enumerate(window):
            payload = tpl.render(raw, seq + i, newest_ms)
            for _ in range(2 if twice else 1):
                await self.room.acquire()
                self._pid = self._pid % 65535 + 1
                self.transport.write(mc.publish_packet(f"vehicles/{car_vin}/{tpl.suffix}",
                                                       payload, self._pid))
                self.sent += 1
            self.duplicates += twice


async def run(a: argparse.Namespace) -> dict[str, float]:
    """Publish the slice for ``a.seconds`` seconds from ``a.start``."""
    templates: dict[str, CarTemplates] = make_templates()
    cars = np.arange(a.part, a.cars, a.parts)
    driving = np.array([drives(c, a.driving) for c in cars.tolist()], dtype=bool)
    by_offset = [cars[driving & (cars % 10 == o)].tolist() for o in range(10)]
    parked = cars[~driving]
    transport, proto = await connect(a.url)
    out = Sender(transport, proto.room)
    behind = 0.0
    cpu0 = time.process_time()
    missed: list[tuple[int, int]] = []  # (car, second) held back by the offline cars
    half = a.seconds // 2
    for s in range(a.seconds):
        due = a.start + s
        pause = due - time.time()
        if pause > 0:
            await asyncio.sleep(pause)
        behind = max(behind, time.time() - due)
        second = due
        for car in by_offset[s % 10]:
            if catching_up(car) and s < half:
                missed.append((car, second))
                continue
            await _window(out, templates, car, second, s // 10)
        if s == half:
            for car, at in missed:  # back online: everything it missed, at once
                await _window(out, templates, car, at, (at - a.start) // 10)
            out.catchups = len(missed)
        for car in parked[parked % 900 == second % 900].tolist():
            tpl = templates[WIRE_OF[car % 100]]
            await out.send(car, tpl.heartbeat, _seq(second), second * 1000)
    for _ in range(WINDOW):  # every PUBACK in
        await asyncio.wait_for(proto.room.acquire(), 600)
    transport.write(mc.DISCONNECT_PACKET)
    transport.close()
    return {"sent": out.sent, "duplicates": out.duplicates, "catchup_windows": out.catchups,
            "acked": proto.acked, "behind_s": round(behind, 3),
            "cpu_s": round(time.process_time() - cpu0, 2)}


def _seq(second: int) -> int:
    """A car's sequence number for what it sends at ``second``: at most one window a
    second, up to 10 messages each, within the templates' fixed width."""
    return second % 100_000_000 * 10


async def _window(out: Sender, templates: dict[str, CarTemplates], car: int, second: int,
                  k: int) -> None:
    tpl = templates[WIRE_OF[car % 100]]
    await out.send(car, tpl.drive[k % len(tpl.drive)], _seq(second), second * 1000,
                   twice=(car * 31 + k) % 50 == 0)


def main() -> None:
    """Command line."""
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("part", type=int)
    p.add_argument("parts", type=int)
    p.add_argument("--cars", type=int, required=True)
    p.add_argument("--start", type=int, required=True, help="epoch second of the first tick")
    p.add_argument("--seconds", type=int, required=True)
    p.add_argument("--driving", type=float, required=True)
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a))), flush=True)


if __name__ == "__main__":
    main()
