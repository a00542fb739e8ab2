"""Every golden frame decodes to exactly its expected readings or rejection.

To add a case: a folder with input.msgpack|json|bin and config.json, then
``UPDATE_GOLDEN=1 pytest tests/test_golden.py`` writes expected.json: read it before
committing, it is the assertion.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from decoders.errors import REJECT_CODES
from tests.golden_cases import cases, run_case


@pytest.mark.parametrize("folder", cases(), ids=lambda p: p.name)
def test_golden_case(folder: Path) -> None:
    got = run_case(folder)
    expected_file = folder / "expected.json"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(expected_file.read_text())


def test_every_decoder_reason_has_a_golden_case() -> None:
    seen: set[str] = set()
    for folder in cases():
        expected = json.loads((folder / "expected.json").read_text())
        if "rejected" in expected:
            seen.add(expected["rejected"]["code"])
        else:
            seen.update(r["code"] for r in expected["readings"]["rejections"])
    decoder_codes = set(REJECT_CODES) - {"storage"}  # storage is the writer's, see test_writer
    assert decoder_codes - seen == set()
