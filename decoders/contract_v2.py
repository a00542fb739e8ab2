"""Contract v2: v1 plus the VSS release the vehicle follows (``"vss": "6.0"``); values are
converted into the catalog's units before the v1 checks."""

from __future__ import annotations

from decoders import contract_v1
from decoders.errors import Rejection
from decoders.readings import DecodeContext, Readings
from decoders.releases import to_catalog


def check_map(doc: dict[object, object], ctx: DecodeContext) -> Readings:
    """Readings of a v2 document, in the catalog's units."""
    converted: list[Rejection] = []
    signals = doc.get("signals")
    in_catalog_units = to_catalog(doc.get("vss"), signals if isinstance(signals, dict) else {},
                                  converted)
    if isinstance(signals, dict):
        doc = {**doc, "signals": in_catalog_units}
    return contract_v1.check_map(doc, ctx, converted)
