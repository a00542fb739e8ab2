"""VIN to vehicle id, with the latest known odometer used to flag readings going backwards."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg


@dataclass(slots=True)
class VehicleState:
    """What the writer remembers of a vehicle between batches."""

    id: int
    odometer_km: float | None
    odometer_at_ms: int | None


class VehicleDirectory:
    """Caches vehicle ids (they never change) and the latest odometer per vehicle."""

    def __init__(self) -> None:
        self._by_vin: dict[str, VehicleState] = {}

    def get(self, vin: str) -> VehicleState:
        """The cached state of a resolved VIN."""
        return self._by_vin[vin]

    async def resolve(self, conn: psycopg.AsyncConnection, vins: set[str]) -> None:
        """Make sure every VIN has a row and a cached id (registers unknown VINs)."""
        missing = sorted(v for v in vins if v not in self._by_vin)
        if not missing:
            return
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO vehicles (vin) SELECT unnest(%s::text[]) ORDER BY 1 "
                "ON CONFLICT (vin) DO NOTHING",
                (missing,),
            )
            cur = await conn.execute(
                "SELECT vin, id, odometer_km, "
                "(extract(epoch FROM odometer_at) * 1000)::bigint "
                "FROM vehicles WHERE vin = ANY(%s)",
                (missing,),
            )
            for vin, vid, odo, odo_at in await cur.fetchall():
                self._by_vin[vin] = VehicleState(vid, odo, odo_at)

    def forget(self) -> None:
        """Drop cached odometers (after a failed batch their values may be ahead of the DB)."""
        self._by_vin.clear()


class ModelLookup:
    """VIN -> registered model, for decoders that depend on it (CAN picks its DBC by model);
    cached for ``ttl_s`` so a registry change takes effect within that time."""

    def __init__(self, ttl_s: float = 60.0, max_entries: int = 200_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def models(self, conn: psycopg.AsyncConnection, vins: Iterable[str]
                     ) -> dict[str, str | None]:
        """The model of each VIN (None: unregistered or no model)."""
        now = time.monotonic()
        wanted = set(vins)
        stale = [v for v in wanted if now - self._cache.get(v, (-1e18, None))[0] > self.ttl_s]
        if stale:
            if len(self._cache) > self.max_entries:
                self._cache.clear()
            cur = await conn.execute("SELECT vin, model FROM vehicles WHERE vin = ANY(%s)",
                                     (stale,))
            found: dict[str, str | None] = dict(await cur.fetchall())
            for vin in stale:
                self._cache[vin] = (now, found.get(vin))
        return {v: self._cache[v][1] for v in wanted}
