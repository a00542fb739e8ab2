"""Who owns the simulated cars: commercial fleets and rental companies with several cars,
cars sold to a new owner during the run, and owners the registry first knows under a
duplicate id (the truth keeps the real owner; the platform merges the two ids later)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np

from simulator.fleet import VehicleSpec


def mix_owners(fleet: list[VehicleSpec], days: int, start: date, seed: int,
               fleet_share: float = 0.3, transfer_share: float = 0.08,
               duplicate_share: float = 0.5) -> list[VehicleSpec]:
    """Group ``fleet_share`` of the cars into companies of 2-4 cars (one in four a rental
    company), sell ``transfer_share`` of the private cars to a new owner on a day of the
    run's middle half, and register one car of ``duplicate_share`` of the companies under a
    duplicate id. Deterministic for a seed."""
    rng = np.random.default_rng([seed, 77])
    out = list(fleet)
    order = [int(i) for i in rng.permutation(len(out))]
    grouped = order[:int(len(out) * fleet_share)]
    k = 0
    while len(grouped) >= 2:
        size = min(len(grouped), int(rng.integers(2, 5)))
        members, grouped = grouped[:size], grouped[size:]
        kind = "rental" if k % 4 == 3 else "commercial_fleet"
        company = f"FLEET-{seed % 1000:03d}-{k:04d}"
        for i in members:
            out[i] = replace(out[i], owner_id=company, owner_type=kind)
        if rng.random() < duplicate_share:
            out[members[-1]] = replace(out[members[-1]], registered_as=f"{company}-DUP")
        k += 1
    private = [i for i in order if out[i].owner_type == "private"]
    for i in private[:int(len(out) * transfer_share)]:
        if days >= 8:
            day = start + timedelta(days=int(rng.integers(days // 4, 3 * days // 4)))
            out[i] = replace(out[i], transfers=((f"{out[i].owner_id}-NEXT", day),))
    return out
