"""The soak's report: each phase's figures, the limits they imply, the goals beside them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks.soak_api import ApiReader
from benchmarks.soak_load import PEAK_SHARE, fleet_rate

if TYPE_CHECKING:
    from benchmarks.soak import Phase

# derivations a car needs per second at the peak: a driving car's new data derived at
# least once a minute (the lag goal), a parked car's heartbeat once per heartbeat
DERIVE_PER_CAR_S = PEAK_SHARE / 60 + (1 - PEAK_SHARE) / 900


@dataclass(slots=True)
class Outcome:
    """What the soak measured after the phases."""

    catch_up: tuple[float, int, dict[str, float]]  # seconds, vehicles derived, CPU seconds
    settle_s: float
    profiles: int
    export_s: float
    raw_per_row: float
    derived_bytes: int
    pending: int
    gateway_rss_mb: float


def _phase(ph: Phase, st: dict[str, Any], api: ApiReader) -> None:
    assert ph.cpu is not None
    n = max(st["messages"], 1)
    print(f"\n### {ph.name}: {ph.cars:,} cars, {ph.share:.0%} driving, {ph.seconds} s")
    print(f"- offered {fleet_rate(ph.cars, ph.share):,.0f} msg/s; sent {ph.sent:,}"
          f" ({ph.duplicates:,} duplicates); publishers at most {ph.behind_s:.1f} s behind,"
          f" {ph.publisher_cpu_s:.0f} CPU s")
    print(f"- committed {st['messages']:,} at {st['rate']:,.0f} msg/s ="
          f" {st['samples_per_s']:,.0f} samples/s over {st['seconds']:.0f} s")
    if st["lag_p50_s"] is not None:
        print(f"- lag vehicle -> committed: p50 {st['lag_p50_s']:.1f} s, p99"
              f" {st['lag_p99_s']:.1f} s, max {st['lag_max_s']:.1f} s")
    print("- CPU per committed message: " + ", ".join(
        f"{k} {v / n * 1e6:.0f} µs" for k, v in ph.cpu.items()))
    for k, v in api.summary(ph.name).items():
        print(f"- {k}: {v}")


def print_report(a: argparse.Namespace, report: list[tuple[Phase, dict[str, Any]]],
                 api: ApiReader, o: Outcome) -> None:
    """Print everything, then the limits and the goals."""
    print("\n## Soak report")
    for ph, st in report:
        _phase(ph, st, api)
    secs, derived, cpu = o.catch_up
    per = {k: v / max(derived, 1) * 1000 for k, v in cpu.items()}
    print("\n### Derivations alone (after the carried fleet's peak, no ingest)")
    print(f"- {derived:,} vehicle derivations in {secs:.0f} s = {derived / secs:.0f}/s; CPU per"
          f" derivation: " + ", ".join(f"{k} {v:.1f} ms" for k, v in per.items()))
    print("\n### Date change and export (whole fleet)")
    print(f"- refresh of every vehicle's profiles and stored periods: {o.settle_s:.0f} s")
    for k, v in api.summary("date change").items():
        print(f"- during it, {k}: {v}")
    print(f"- export of {o.profiles:,} profiles (NDJSON, 30 days): {o.export_s:.1f} s")
    print(f"- vehicles still waiting for derivations at the end: {o.pending:,}")
    print(f"- raw storage per sample row (samples and ingest log, indexes): {o.raw_per_row:.0f}"
          f" B; a car-day of 1 h driving at 1 Hz and 96 heartbeats:"
          f" {o.raw_per_row * 3696 / 1e6:.2f} MB before compression; derived tables and"
          f" snapshots grew {o.derived_bytes / 1e6:,.0f} MB")
    print(f"- gateway peak RSS {o.gateway_rss_mb:.0f} MB")
    _limits(a, report, o, api, derived / secs if secs else 0.0, per)


def _limits(a: argparse.Namespace, report: list[tuple[Phase, dict[str, Any]]], o: Outcome,
            api: ApiReader, derive_rate: float, per: dict[str, float]) -> None:
    by_name = {ph.name: st for ph, st in report}
    taken = by_name["whole fleet, peak"]["rate"]
    carried = by_name["carried fleet, peak"]
    per_car = fleet_rate(1, PEAK_SHARE)
    rate, waiting = api.derivation_rate("carried fleet, peak")
    carried_wait = waiting / rate if rate else None
    print("\n### Limits")
    print(f"- ingest: {taken:,.0f} msg/s taken at the whole fleet's peak = {taken / per_car:,.0f}"
          f" cars at a {PEAK_SHARE:.0%} commute peak ({per_car:.4f} msg/s per car)")
    print(f"- derivations: {derive_rate:.0f} vehicles/s in one gateway; a car needs"
          f" {DERIVE_PER_CAR_S:.5f}/s at the peak (once a minute driving, once per heartbeat"
          f" parked) = {derive_rate / DERIVE_PER_CAR_S:,.0f} cars per derivation process;"
          f" {a.cars:,} cars need {a.cars * DERIVE_PER_CAR_S:,.0f} derivations/s ="
          f" {a.cars * DERIVE_PER_CAR_S * per['postgres'] / 1000:,.1f} database cores and"
          f" {a.cars * DERIVE_PER_CAR_S * per['gateway'] / 1000:,.1f} gateway cores")
    print("\n### Goals")
    whole = by_name["whole fleet, peak"]
    goals = [
        (f"p99 vehicle -> committed, {a.cars:,}-car peak", whole["lag_p99_s"], 60.0, "s"),
        (f"p99 vehicle -> committed, {a.carried_cars:,}-car peak", carried["lag_p99_s"],
         60.0, "s"),
        (f"p99 vehicle -> API-visible, {a.carried_cars:,}-car peak",
         api.visible_p99("carried fleet, peak"), 60.0, "s"),
        (f"longest wait for derivations, {a.carried_cars:,}-car peak", carried_wait, 60.0,
         "s"),
        ("settle of every vehicle at the date change", o.settle_s, 600.0, "s"),
        (f"export of {o.profiles:,} profiles", o.export_s, 10.0, "s"),
    ]
    for what, value, limit, unit in goals:
        verdict = "met" if value is not None and value < limit else "NOT met"
        shown = "n/a" if value is None else f"{value:,.1f} {unit}"
        print(f"- {what}: {shown} (goal < {limit:g} {unit}): {verdict}")
