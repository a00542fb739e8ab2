"""Rejection reasons. Each code is a fixed metrics label; the detail says what exactly was wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RejectCode = Literal[
    "oversize",
    "unknown_topic",
    "bad_vin",
    "malformed",
    "schema",
    "unsupported_version",
    "unsupported_catalog",
    "vin_mismatch",
    "length_mismatch",
    "bad_timestamp",
    "duplicate_timestamp",
    "unknown_signal",
    "bad_value",
    "out_of_range",
    "bad_event",
    "bad_frame",
    "storage",
    "decoder_error",
    "poison",
]

REJECT_CODES: tuple[RejectCode, ...] = RejectCode.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reason a message, or a part of it, was not stored."""

    code: RejectCode
    detail: str

    def __str__(self) -> str:
        return self.detail


class Rejected(Exception):
    """The whole message is rejected; nothing of it is stored."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(code, detail)


class DecoderError(Rejected):
    """A decoder raised something other than ``Rejected``: a bug in it or in a library it
    calls. The message is kept as a dead letter (a bug report) and the batch goes on."""

    def __init__(self, decoder: str, exc: BaseException) -> None:
        super().__init__("decoder_error",
                         f"{decoder}: {type(exc).__name__}: {str(exc)[:300]}")
        self.decoder = decoder
        self.exception = exc
