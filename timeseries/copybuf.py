"""PostgreSQL binary COPY data for wide sample rows, built with numpy instead of row by row.

Rows that lack the same signals share one byte layout, so each such group becomes one
numpy structured array (big-endian field lengths and values) written out in one go.
Format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).
"""

from __future__ import annotations

import numpy as np

from timeseries.rows import SampleRows

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH_MS = 946_684_800_000  # timestamptz counts microseconds from 2000-01-01 UTC
_HEAD = [("fields", ">i2"), ("vid_len", ">i4"), ("vid", ">i4"), ("ts_len", ">i4"),
         ("ts", ">i8"), ("flags_len", ">i4"), ("flags", ">i2")]


def _layout(absent: np.ndarray) -> np.dtype:
    fields = list(_HEAD)
    for j, missing in enumerate(absent.tolist()):
        fields.append((f"len{j}", ">i4"))
        if not missing:
            fields.append((f"v{j}", ">f8"))
    return np.dtype(fields)


def _group(rows: SampleRows, pick: np.ndarray | slice, absent: np.ndarray) -> bytes:
    layout = _layout(absent)
    template = np.zeros(1, layout)  # the constant part: field count and field lengths
    template["fields"] = 3 + len(absent)
    template["vid_len"], template["ts_len"], template["flags_len"] = 4, 8, 2
    present = [j for j, missing in enumerate(absent.tolist()) if not missing]
    for j in range(len(absent)):
        template[f"len{j}"] = 8 if j in present else -1  # -1: NULL
    vid = rows.vid[pick]
    out = np.frombuffer(bytearray(template.tobytes() * len(vid)), layout)
    out["vid"] = vid
    out["ts"] = (rows.ts_ms[pick] - PG_EPOCH_MS) * 1000
    out["flags"] = rows.flags[pick]
    values = rows.values[pick]
    for j in present:
        out[f"v{j}"] = values[:, j]
    return out.tobytes()


def samples_copy_data(rows: SampleRows) -> bytes:
    """The whole binary COPY stream (signature, rows, trailer) for columns
    ``vehicle_id int4, ts timestamptz, flags int2, <signal columns> float8``."""
    absent = np.isnan(rows.values)
    parts = [SIGNATURE]
    if len(rows.vid):
        if (absent == absent[0]).all():
            parts.append(_group(rows, slice(None), absent[0]))
        else:
            _, first, inverse = np.unique(np.packbits(absent, axis=1), axis=0,
                                          return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            for p, row in enumerate(first.tolist()):
                parts.append(_group(rows, np.flatnonzero(inverse == p), absent[row]))
    parts.append(TRAILER)
    return b"".join(parts)
