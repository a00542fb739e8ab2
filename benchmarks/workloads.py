"""The benchmark workloads of issue 7, generated deterministically in slices so several
publisher processes can each make their own share without shipping payloads around.

- W1: per-sample JSON on ``vehicles/{vin}/telemetry/json``: one row of 15 numeric signals
  per message, 100 vehicles, with garbage payloads spread through the middle.
- W2: fleet batches in MessagePack on ``vehicles/{vin}/telemetry``: one vehicle x 10 s x 20
  signals at 1 Hz (200 samples) per message; ``windows`` consecutive 10-s windows of every
  vehicle, vehicle by vehicle within a window (the order a fleet produces them).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import msgpack

from decoders.catalog import load_catalog

NUMERIC = [s for s in load_catalog().signals.values() if s.type == "float"]
W1_SIGNALS, W2_SIGNALS = NUMERIC[:15], NUMERIC[:20]
W2_ROWS = 10
Message = tuple[str, bytes]


def vin(i: int) -> str:
    """The i-th benchmark VIN."""
    return f"WVWZZZ1JZ{i:08d}"


def _value(rng: random.Random, lo: float | None, hi: float | None) -> float:
    return round(rng.uniform(lo or 0.0, min(hi or 1.0, 100.0)), 2)


@dataclass(frozen=True, slots=True)
class W1:
    """Per-sample JSON."""

    messages: int = 20_000
    vehicles: int = 100
    garbage: int = 10
    base_ms: int = 0  # 0: an hour before now

    @property
    def total(self) -> int:
        """Messages published, garbage included."""
        return self.messages + self.garbage

    def garbage_at(self, i: int) -> bool:
        """Whether a garbage payload follows message ``i`` (spread over the middle half)."""
        if not self.garbage:
            return False
        step = self.messages // 2 // self.garbage
        return self.messages // 4 <= i < self.messages * 3 // 4 and \
            (i - self.messages // 4) % step == 0 and \
            (i - self.messages // 4) // step < self.garbage

    def slice(self, part: int, parts: int) -> Iterator[Message]:
        """Messages ``part``, ``part + parts``, ... of the workload."""
        base = self.base_ms or int(time.time() * 1000) - 3_600_000
        for i in range(part, self.messages, parts):
            rng = random.Random(i)
            v = vin(i % self.vehicles)
            topic = f"vehicles/{v}/telemetry/json"
            doc = {"v": 1, "vin": v, "seq": i, "t0": base + i * 10, "dt": [0],
                   "signals": {s.name: [_value(rng, s.min, s.max)] for s in W1_SIGNALS}}
            yield topic, json.dumps(doc).encode()
            if self.garbage_at(i):
                yield topic, b'{"v": 1, "vin": "' + v.encode() + b'", garbage %d' % i


@dataclass(frozen=True, slots=True)
class W2:
    """Fleet batches."""

    vehicles: int = 10_000
    windows: int = 3
    base_ms: int = 0

    @property
    def total(self) -> int:
        """Messages published."""
        return self.vehicles * self.windows

    @property
    def samples_per_message(self) -> int:
        """Signal values per message."""
        return W2_ROWS * len(W2_SIGNALS)

    def payload(self, i: int, window: int, t0: int) -> bytes:
        """Vehicle ``i``'s message for one window starting at ``t0``."""
        rng = random.Random(i * 1000 + window)
        v = vin(i)
        payload: bytes = msgpack.packb({
            "v": 1, "vin": v, "seq": window, "t0": t0,
            "dt": list(range(0, W2_ROWS * 1000, 1000)),
            "signals": {s.name: [_value(rng, s.min, s.max) for _ in range(W2_ROWS)]
                        for s in W2_SIGNALS}})
        return payload

    def slice(self, part: int, parts: int) -> Iterator[Message]:
        """Every ``parts``-th message, starting at ``part``."""
        base = self.base_ms or int(time.time() * 1000) - 3_600_000
        for n in range(part, self.total, parts):
            window, i = divmod(n, self.vehicles)
            yield f"vehicles/{vin(i)}/telemetry", self.payload(i, window, base + window * 10_000)


def live_w2(w: W2, n: int, now_ms: int) -> Message:
    """Message ``n`` of a live W2 stream: its newest sample is ``now_ms`` (the moment it is
    sent), so commit time minus that is the vehicle-to-commit latency."""
    window, i = divmod(n, w.vehicles)
    return f"vehicles/{vin(i)}/telemetry", w.payload(i, window, now_ms - (W2_ROWS - 1) * 1000)
