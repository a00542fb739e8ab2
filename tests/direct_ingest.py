"""Feed simulator messages straight through decode + BatchWriter (no broker), and run the
derivations: for tests that compare arrival orders on large fleets quickly."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date

import psycopg

from features.engine import Deriver, DeriveSettings
from features.registry import Registration, upsert
from gateway.decode import decode_envelope
from simulator.stream import Outgoing
from timeseries.batch import Envelope
from timeseries.writer import BatchWriter


def envelope(msg: Outgoing, now_ms: int, models: dict[str, str] | None = None) -> Envelope:
    """Decode like the gateway does; ``models`` (VIN -> registered model) picks each CAN
    car's DBC, as the gateway's registry does (without it every car gets the default)."""
    model = models.get(msg.topic.split("/")[1]) if models else None
    return decode_envelope(msg.topic, msg.payload, now_ms, model)


async def ingest(writer: BatchWriter, messages: Iterable[Outgoing], batch: int = 500,
                 deriver: Deriver | None = None, derive_every: int = 8) -> None:
    """Write in batches, deriving every ``derive_every`` batches (the gateway derives on a
    timer; at full speed that is every few thousand messages)."""
    now = int(time.time() * 1000)
    pending: list[Envelope] = []
    written = 0
    for msg in messages:
        pending.append(envelope(msg, now))
        if len(pending) >= batch:
            await writer.write_isolating(pending)
            pending = []
            written += 1
            if deriver is not None and written % derive_every == 0:
                await deriver.run_pending()
    if pending:
        await writer.write_isolating(pending)
    if deriver is not None:
        await derive_all(deriver)


async def derive_all(deriver: Deriver) -> None:
    """Until nothing is dirty."""
    while await deriver.run_pending(1000):
        pass


async def register_fleet(conn: psycopg.AsyncConnection, truth: dict[str, dict[str, object]]
                         ) -> None:
    """Register every simulated vehicle from the truth's metadata: its first owner (under
    the id the registry first knows) from delivery, then each transfer on its day."""
    for vin, v in truth.items():
        meta = v["meta"]
        assert isinstance(meta, dict)
        periods = meta.get("ownership") or [{"owner_id": meta["owner_id"],
                                             "from": meta["delivered_on"]}]
        for n, period in enumerate(periods):
            async with conn.transaction():
                await upsert(conn, Registration(
                    vin=vin, model=meta["model"], powertrain=meta["powertrain"],
                    timezone=meta["timezone"], delivered_on=_date(meta["delivered_on"]),
                    owner_id=meta.get("registered_as", meta["owner_id"]) if n == 0
                    else period["owner_id"],
                    dealer_id=meta["dealer_id"], advisor_id=meta.get("advisor_id"),
                    owner_channel=meta.get("owner_channel"), owner_since=_date(period["from"]),
                    owner_type=meta.get("owner_type", "private") if n == 0 else "private"))


def _date(s: str) -> date:
    return date.fromisoformat(s)


def deriver_for(conn: psycopg.AsyncConnection) -> Deriver:
    """A deriver with default settings."""
    return Deriver(conn, DeriveSettings())
