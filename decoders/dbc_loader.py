"""Load a DBC file the way real-world files need: relax what a strict loader refuses, and
say what was relaxed.

Many public DBC files do not load with a strict loader. Unless ``strict`` is asked for, a
file that fails is loaded again with each relaxation it needs, in this order of discovery:
value tables (``VAL_``) on ids or signals the file does not define are dropped; 29-bit ids
written without the extended flag are flagged as extended; overlapping or out-of-frame
signals are accepted (cantools' non-strict mode: the decoder still reads each signal's
bits). A file that still does not parse is refused with the parser's message.
"""

from __future__ import annotations

import re
from pathlib import Path

import cantools
from cantools.database.errors import UnsupportedDatabaseFormatError

_UNUSED_CHOICES = re.compile(r"VAL_ (\d+) (\w+)")
_FRAME_REFERENCE = re.compile(r"\b(BO_|VAL_|SG_|SIG_VALTYPE_|BO_TX_BU_|SG_MUL_VAL_)(\s+)(\d+)\b")
EXTENDED_FLAG = 0x80000000  # the DBC convention for an extended (29-bit) id


def load_dbc(path: Path, strict: bool = False) -> tuple[cantools.database.can.Database,
                                                        tuple[str, ...]]:
    """Load a DBC file, relaxing what real-world files need unless ``strict``; returns the
    database and what was relaxed. Raises ValueError naming the file and the problem."""
    text = path.read_text("utf-8", errors="replace")
    relaxed: list[str] = []
    loader_strict = True
    for _ in range(4):
        try:
            db = cantools.database.load_string(text, "dbc", strict=loader_strict)
        except (UnsupportedDatabaseFormatError, ValueError) as exc:
            why = str(exc).strip()
            if strict:
                raise ValueError(f"{path.name} does not load strictly: {why[:300]}") from None
            if "unused VAL_ entries" in why:
                unused = set(_UNUSED_CHOICES.findall(why))
                text = "\n".join(line for line in text.splitlines()
                                 if tuple(line.split()[1:3]) not in unused
                                 or not line.lstrip().startswith("VAL_ "))
                relaxed.append(f"dropped {len(unused)} value tables (VAL_) of signals the"
                               " file does not define")
            elif "Standard frame id" in why and "more than 11 bits" in why:
                text = _FRAME_REFERENCE.sub(_flag_extended, text)
                relaxed.append("flagged ids over 11 bits as extended (29-bit) frames")
            elif loader_strict:
                loader_strict = False
                relaxed.append(f"loaded non-strictly ({why.splitlines()[0][:200]})")
            else:
                raise ValueError(f"{path.name} does not load: {why[:300]}") from None
            continue
        if not isinstance(db, cantools.database.can.Database):
            raise ValueError(f"{path.name} is not a CAN database")
        return db, tuple(relaxed)
    raise ValueError(f"{path.name} does not load after relaxing: {'; '.join(relaxed)}")


def _flag_extended(match: re.Match[str]) -> str:
    frame_id = int(match.group(3))
    if 0x7FF < frame_id < EXTENDED_FLAG:
        frame_id |= EXTENDED_FLAG
    return f"{match.group(1)}{match.group(2)}{frame_id}"
