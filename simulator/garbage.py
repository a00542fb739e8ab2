"""Bad payloads, one of each kind in turn, each unique so dead-letter dedup keeps them all."""

from __future__ import annotations

import msgpack
import numpy as np

KINDS = ("malformed", "truncated", "vin_mismatch", "unsupported_version", "bad_timestamp",
         "oversize")
EXPECTED_CODE = {"malformed": "malformed", "truncated": "malformed",
                 "vin_mismatch": "vin_mismatch", "unsupported_version": "unsupported_version",
                 "bad_timestamp": "bad_timestamp", "oversize": "oversize"}


def garbage(kind: str, vin: str, seq: int, t_ms: int, rng: np.random.Generator,
            wall_now_ms: int) -> bytes:
    """One bad payload of ``kind`` for the msgpack topic of ``vin``."""
    good = {"v": 1, "vin": vin, "seq": seq, "t0": t_ms, "dt": [0, 1000],
            "signals": {"Vehicle.Speed": [10.0, float(rng.integers(0, 100))]}}
    if kind == "malformed":
        return b"\xc1" + rng.bytes(int(rng.integers(8, 120)))
    if kind == "truncated":
        packed: bytes = msgpack.packb(good)
        return packed[: len(packed) // 2]
    if kind == "vin_mismatch":
        return msgpack.packb({**good, "vin": "WVWZZZ" + vin[6:][::-1]})  # type: ignore[no-any-return]
    if kind == "unsupported_version":
        return msgpack.packb({**good, "v": 99})  # type: ignore[no-any-return]
    if kind == "bad_timestamp":
        return msgpack.packb({**good, "t0": wall_now_ms + 40 * 86_400_000 + seq})  # type: ignore[no-any-return]
    if kind == "oversize":
        return b"\x92" + rng.bytes(1_100_000)
    raise ValueError(kind)
