"""The map contract's versions: ``v`` in the document selects how the rest is read.

v1: signals in the catalog's units (VSS 4.0). v2: the same map plus ``"vss": "<release>"``,
the VSS release the vehicle follows; its values are converted to the catalog's units. A new
version is added here, beside the old ones, so vehicles on older versions keep working
(docs/contract.md, Versioning).
"""

from __future__ import annotations

from collections.abc import Callable

from decoders import contract_v1, contract_v2
from decoders.errors import Rejected
from decoders.readings import DecodeContext, Readings

VERSIONS: dict[int, Callable[[dict[object, object], DecodeContext], Readings]] = {
    1: contract_v1.check_map,
    2: contract_v2.check_map,
}


def check_document(doc: object, ctx: DecodeContext) -> Readings:
    """Readings of a decoded map of any supported version; Rejected otherwise."""
    if not isinstance(doc, dict):
        raise Rejected("schema", f"payload is a {type(doc).__name__}, expected a map")
    version = doc.get("v")
    check = VERSIONS.get(version) if isinstance(version, int) and \
        not isinstance(version, bool) else None
    if check is None:
        supported = ", ".join(map(str, VERSIONS))
        raise Rejected("unsupported_version",
                       f"contract version {version!r} not supported (supported: {supported})")
    return check(doc, ctx)
