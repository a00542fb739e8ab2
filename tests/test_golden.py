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
from decoders.registry import DECODERS
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
    # storage is the writer's (test_writer); poison the pipeline's and decoder_error a
    # decoder bug by definition, caught around every decoder (test_pipeline, test_poison)
    decoder_codes = set(REJECT_CODES) - {"storage", "poison", "decoder_error"}
    assert decoder_codes - seen == set()


def test_every_decoder_has_accepted_and_rejected_golden_cases() -> None:
    outcomes: dict[str, set[str]] = {}
    for folder in cases():
        suffix = json.loads((folder / "config.json").read_text())["topic"].split("/", 2)[2]
        expected = json.loads((folder / "expected.json").read_text())
        outcomes.setdefault(suffix, set()).add("rejected" if "rejected" in expected else "ok")
    for decoder in DECODERS:
        assert outcomes.get(decoder.suffix) == {"ok", "rejected"}, decoder.name
