"""A CAN batch read straight from its MessagePack bytes, when its shape has been seen before.

A vehicle (and every car of its model) sends batches of the same shape again and again: the
same frame ids in the same order, the same data lengths, the timestamps as 8-byte unsigned
integers. In the payload, everything of such a batch's ``frames`` array but the timestamps
and the data bytes is then the same byte string. The first batch of a shape is unpacked as
usual and, once the batch decoder has taken it, a ``Template`` records where the values
sit; a later batch whose fixed bytes equal the template's (one gather, one comparison) is
read with two gathers and no Python object per frame, then decoded by the same numeric core
(``decoders.can_vector.decode_pairs``). Anything else is unpacked as usual.

Why the header trick is exact: MessagePack is read front to back, so when the bytes before
the array, followed by an empty array, unpack to a map whose last key is ``frames`` and
whose value is that empty array, the payload is that map with ``frames`` set to the array
that starts there; the template then checks that array byte for byte to the payload's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from decoders.can_layout import Layout, layout_for
from decoders.can_table import SignalTable
from decoders.can_vector import decode_pairs, header_ok, short_frames
from decoders.readings import DecodeContext, Readings

FRAMES_KEY = msgpack.packb("frames")
_EMPTY_ARRAY = b"\x90"
_LIMITS = {"max_str_len": 1_000_000, "max_bin_len": 1_000_000, "max_array_len": 1_000_000,
           "max_map_len": 1_000_000, "max_ext_len": 0}


@dataclass(frozen=True, slots=True)
class Template:
    """Where a shape's values sit in its frames array (positions count from the array's
    first byte; the position just past its end reads a zero byte, the padding)."""

    layout: Layout
    fixed_at: np.ndarray  # every byte that is not a timestamp's or a frame's data
    fixed: bytes          # ... and what each must be
    t_at: np.ndarray      # (compiled frames, 8): each timestamp's bytes, big-endian
    word_at: np.ndarray   # (pairs, 8): each pair's frame word in its byte order, low first


def decode_known(payload: bytes, table: SignalTable, ctx: DecodeContext) -> Readings | None:
    """The readings of a batch of a known shape, or None (unpack it as usual)."""
    key = payload.find(FRAMES_KEY)
    found = table.templates.candidates(len(payload) - key - len(FRAMES_KEY)) \
        if key >= 0 else None
    if not found:
        return None
    start = key + len(FRAMES_KEY)
    buf = np.frombuffer(payload + b"\0", np.uint8, offset=start)
    for template in found:
        if buf[template.fixed_at].tobytes() == template.fixed:
            break
    else:
        return None
    doc = _header(payload[:start])
    if doc is None or doc.get("v") != 1 or not header_ok(doc, ctx):
        return None
    t = buf[template.t_at].view(">i8").ravel()
    if np.count_nonzero(t < 0):  # past 2^63: the batch decoder's integers cannot hold it
        return None
    words = buf[template.word_at].view("<u8").ravel()
    return decode_pairs(template.layout, t.astype(np.int64), words, doc["vin"], doc["seq"],
                        ctx)


def remember(payload: bytes, frames: list[Any], table: SignalTable) -> None:
    """Record the shape of a batch the batch decoder took, the second time a frames array
    of its byte length is seen (a shape seen once costs nothing), if its bytes are the
    canonical MessagePack of its frames (as encoders write them by default) and the shape
    fits: timestamps of 8 bytes, data under 256 bytes."""
    key = payload.find(FRAMES_KEY)
    start = key + len(FRAMES_KEY)
    if key < 0 or not table.templates.second_sight(len(payload) - start):
        return
    section = payload[start:]
    if msgpack.packb(frames) != section:
        return
    layout = layout_for(table, tuple(f[1] for f in frames))
    if layout is None or _header(payload[:start]) is None or short_frames(
            tuple(f[2] for f in frames), layout).any():
        return
    template = _template(section, frames, layout)
    if template is not None:
        table.templates.keep(len(section), template)


def _header(prefix: bytes) -> dict[Any, Any] | None:
    """The batch's map with an empty ``frames`` as its last entry, or None."""
    try:
        doc = msgpack.unpackb(prefix + _EMPTY_ARRAY, raw=False, strict_map_key=False,
                              **_LIMITS)
    except Exception:  # any malformed prefix: the usual unpacking names the problem
        return None
    if type(doc) is not dict or not doc or next(reversed(doc)) != "frames" \
            or doc["frames"] != []:
        return None
    return doc


def _template(section: bytes, frames: list[Any], layout: Layout) -> Template | None:
    bodies = [msgpack.packb(f) for f in frames]
    size = np.fromiter(map(len, bodies), np.intp, len(bodies))
    begin = len(section) - int(size.sum()) + np.cumsum(size) - size  # after the array header
    data = np.fromiter((len(f[2]) for f in frames), np.intp, len(frames))
    id_len = size - 12 - data  # 0x93, 0xCF + 8 bytes, the id, 0xC4 + length, the data
    view = np.frombuffer(section, np.uint8)
    if len(frames) and (begin[0] < 1 or (id_len < 1).any() or (view[begin + 1] != 0xCF).any()
                        or (view[begin + 10 + id_len] != 0xC4).any()):
        return None  # a timestamp of another width, or data of 256 bytes or more
    t_at = begin[:, None] + 2 + np.arange(8)
    data_at = begin + 12 + id_len
    edges = np.zeros(len(section) + 1, np.intp)  # +1 where values start, -1 where they end
    np.add.at(edges, np.concatenate([begin + 2, data_at]), 1)
    np.add.at(edges, np.concatenate([begin + 10, data_at + data]), -1)
    fixed = np.cumsum(edges)[:-1] == 0
    frame, big = np.divmod(layout.word, 2)
    offset = np.arange(8)
    low_first = np.where(offset < np.minimum(data[frame], 8)[:, None],
                         data_at[frame][:, None] + offset, len(section))  # else the pad
    at = np.flatnonzero(fixed)
    return Template(layout, at, view[at].tobytes(), t_at[layout.idx],
                    np.where(big[:, None] == 1, low_first[:, ::-1], low_first))
