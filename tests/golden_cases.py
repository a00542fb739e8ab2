"""Golden frame cases: tests/golden/<case>/{input.*, config.json, expected.json}."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from decoders.errors import Rejected
from decoders.registry import decode_message

GOLDEN = Path(__file__).parent / "golden"


def cases() -> list[Path]:
    """Every case folder."""
    return sorted(p for p in GOLDEN.iterdir() if p.is_dir())


def run_case(folder: Path) -> dict[str, Any]:
    """Decode the case's input and return what the decoder made of it, as JSON data."""
    config = json.loads((folder / "config.json").read_text())
    (payload_file,) = folder.glob("input.*")
    try:
        r = decode_message(config["topic"], payload_file.read_bytes(), config["now_ms"],
                           config.get("model"))
    except Rejected as exc:
        return {"rejected": {"code": exc.rejection.code, "detail": exc.rejection.detail}}
    return {"readings": {
        "vin": r.vin, "seq": r.seq, "t0_ms": r.t0_ms, "ts_ms": r.ts_ms, "columns": r.columns,
        "events": [asdict(e) for e in r.events],
        "rejections": [{"code": x.code, "detail": x.detail} for x in r.rejections],
        "value_count": r.value_count,
        **({"unknown_frames": r.unknown_frames} if r.unknown_frames else {})}}
