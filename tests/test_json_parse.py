"""The JSON decoder's fast parser (orjson) reads every document exactly as the standard
parser does, and rejects exactly what the standard parser rejects, with its reason."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.errors import Rejected
from decoders.json_v1 import parse

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text(max_size=6), inner, max_size=5),
                         max_leaves=25)
number_text = st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?",
                            fullmatch=True)


def reference(payload: bytes) -> tuple[str, Any]:
    """What the standard parser makes of ``payload``: ("ok", repr) or ("error", None)."""
    try:
        return "ok", repr(json.loads(payload.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "error", None


def ours(payload: bytes) -> tuple[str, Any]:
    """The same for the decoder's parser (repr: 1 and 1.0, -0.0 and 0.0 differ)."""
    try:
        return "ok", repr(parse(payload))
    except Rejected:
        return "error", None


@settings(max_examples=EXAMPLES, deadline=None)
@given(documents)
def test_any_document_reads_the_same(doc: Any) -> None:
    payload = json.dumps(doc).encode()  # NaN and Infinity included, as json writes them
    assert ours(payload) == reference(payload)


@settings(max_examples=EXAMPLES, deadline=None)
@given(number_text)
def test_numbers_read_the_same(text: str) -> None:
    payload = f'{{"v": [{text}, {text}]}}'.encode()
    assert ours(payload) == reference(payload)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=60))
def test_any_bytes_read_or_rejected_the_same(payload: bytes) -> None:
    assert ours(payload) == reference(payload)


@pytest.mark.parametrize("payload", [
    b'{"seq": 123456789012345678901234567890}',   # past 64 bits: exact int, not a float
    b'{"seq": -9223372036854775809}',
    b'{"seq": 18446744073709551615}',
    b'{"a": NaN, "b": -Infinity}',
    b'{"a": 1e400}',
    b'{"a": "\\ud800"}',
    b'\xef\xbb\xbf{"a": 1}',
    b'{"a": 1, "a": 2, "b": 3}',
    b'{"a": 1} x',
    b'{"a": "\xff"}',
    b"[" * 5000 + b"]" * 5000,
])
def test_edge_cases_read_the_same(payload: bytes) -> None:
    assert ours(payload) == reference(payload)


def test_rejection_reasons_are_the_standard_parsers() -> None:
    with pytest.raises(Rejected) as err:
        parse(b'{"a": 1} x')
    assert err.value.rejection.detail == "json: Extra data at line 1 col 10"
    with pytest.raises(Rejected) as err:
        parse(b'{"a": "\xff"}')
    assert err.value.rejection.detail == "json: not UTF-8 at byte 7"
