"""The platform reading the API during the soak, at a steady rate, from its own thread.

Every ``1 / rate`` seconds one request, in turn: a vehicle's 30-day profile, a dealer's
worklist, a page of the events feed. Between them, probes of driving cars: a car's
``last_sample_at`` as the API shows it; when it moves on, the moment the API first showed
it minus the sample's time is that sample's vehicle -> API-visible lag (to within the
probe period).
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time
from collections import defaultdict
from datetime import datetime

from benchmarks.soak_templates import vin


class ApiReader(threading.Thread):
    """Reads until stopped; latencies and visible lags per phase."""

    def __init__(self, port: int, cars: int, probes: list[int], rate: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.port, self.cars, self.probes, self.rate = port, cars, probes, rate
        self.phase = "setup"
        self.latency: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.visible_lag: dict[str, list[float]] = defaultdict(list)
        self.derivations: list[tuple[float, str, float, float]] = []  # (t, phase, done, pending)
        self._stop_event = threading.Event()
        self._seen: dict[int, str] = {}

    def stop(self) -> None:
        """Stop after the request in progress."""
        self._stop_event.set()
        self.join(30)

    def _get(self, conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, body, time.perf_counter() - t0

    def run(self) -> None:
        """The reading loop."""
        rng = random.Random(7)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        kinds = ["profile", "worklist", "events"]
        n = 0
        sampled = 0.0
        while not self._stop_event.is_set():
            if time.time() - sampled >= 5:
                sampled = time.time()
                self._sample_derivations(conn)
            kind = kinds[n % 3]
            path = {"profile": f"/v1/vehicles/{vin(rng.randrange(self.cars))}/profile?window=30",
                    "worklist": f"/v1/dealers/dealer-{rng.randrange(300)}/worklist",
                    "events": "/v1/events?limit=100"}[kind]
            try:
                status, _, secs = self._get(conn, path)
                if status == 200:
                    self.latency[(self.phase, kind)].append(secs)
                else:
                    self.errors[(self.phase, f"{kind} {status}")] += 1
                self._probe(conn, self.probes[n % len(self.probes)])
            except (OSError, http.client.HTTPException):
                self.errors[(self.phase, f"{kind} connection")] += 1
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            n += 1
            self._stop_event.wait(1 / self.rate)

    def _sample_derivations(self, conn: http.client.HTTPConnection) -> None:
        status, body, _ = self._get(conn, "/metrics")
        if status != 200:
            return
        found = {}
        for line in body.decode().splitlines():
            name, _, value = line.partition(" ")
            if name in ("telematics_vehicles_derived_total",
                        "telematics_derivation_pending_vehicles"):
                found[name] = float(value)
        self.derivations.append((time.time(), self.phase,
                                 found.get("telematics_vehicles_derived_total", 0.0),
                                 found.get("telematics_derivation_pending_vehicles", 0.0)))

    def derived_total(self) -> float:
        """Vehicle derivations so far, as last sampled."""
        return self.derivations[-1][2] if self.derivations else 0.0

    def derivation_rate(self, phase: str) -> tuple[float, float]:
        """(vehicles derived per second, most vehicles waiting) in the phase."""
        samples = [d for d in self.derivations if d[1] == phase]
        if len(samples) < 2:
            return 0.0, max((d[3] for d in samples), default=0.0)
        return ((samples[-1][2] - samples[0][2]) / (samples[-1][0] - samples[0][0]),
                max(d[3] for d in samples))

    def visible_p99(self, phase: str) -> float | None:
        """p99 of the vehicle -> API-visible lag in the phase (None: no sample)."""
        lags = self.visible_lag.get(phase)
        return _pct(lags, 99) if lags else None

    def _probe(self, conn: http.client.HTTPConnection, car: int) -> None:
        status, body, _ = self._get(conn, f"/v1/vehicles/{vin(car)}")
        if status != 200:
            return
        last = json.loads(body).get("last_sample_at")
        if last and self._seen.get(car) not in (None, last):
            seen = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
            self.visible_lag[self.phase].append(time.time() - seen)
        if last:
            self._seen[car] = last

    def summary(self, phase: str) -> dict[str, str]:
        """p50/p99 per request kind and of the visible lag, in the phase."""
        out = {}
        for (ph, kind), xs in sorted(self.latency.items()):
            if ph == phase and xs:
                out[kind] = f"p50 {_pct(xs, 50) * 1000:.0f} ms, p99 {_pct(xs, 99) * 1000:.0f} ms" \
                            f" ({len(xs)} requests)"
        for (ph, kind), count in sorted(self.errors.items()):
            if ph == phase:
                out[f"error {kind}"] = str(count)
        rate, waiting = self.derivation_rate(phase)
        if rate:
            out["derivations"] = f"{rate:.0f} vehicles/s; at most {waiting:,.0f} waiting," \
                                 f" i.e. a vehicle waits up to ~{waiting / rate:.0f} s"
        lags = self.visible_lag.get(phase)
        if lags:
            out["vehicle -> API-visible"] = f"p50 {_pct(lags, 50):.1f} s, p99" \
                                            f" {_pct(lags, 99):.1f} s ({len(lags)} samples)"
        return out


def _pct(xs: list[float], q: int) -> float:
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]
