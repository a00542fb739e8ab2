"""Validation of the v1 telemetry map, shared by the MessagePack and JSON decoders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from decoders.catalog import load_catalog
from decoders.errors import Rejected, Rejection
from decoders.readings import CockpitEvent, DecodeContext, Readings
from decoders.sanity import MAX_EVENTS, MAX_ROWS, timestamp_problem
from decoders.signal_block import signal_block

MAX_ATTRS = 32
DTC_LIST = "Vehicle.OBD.DTCList"


def _int_field(doc: dict[Any, Any], key: str, minimum: int = 0) -> int:
    value = doc.get(key)
    if value is None:
        raise Rejected("schema", f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected("schema", f"field {key!r} must be an integer, got {type(value).__name__}")
    if value < minimum or value >= 2**63:
        raise Rejected("schema", f"field {key!r} = {value} out of range")
    return value


def check_map(doc: dict[Any, Any], ctx: DecodeContext,
              prior: list[Rejection] | None = None) -> Readings:
    """Turn a decoded map (``v`` already checked) into readings; whole-message problems raise
    Rejected. ``prior``: rejections found before (by a newer version's conversion)."""
    vin = doc.get("vin")
    if not isinstance(vin, str):
        raise Rejected("schema", "missing or non-string field 'vin'")
    if vin != ctx.topic_vin:
        raise Rejected("vin_mismatch", f"vin mismatch: topic {ctx.topic_vin} payload {vin[:40]}")
    seq = _int_field(doc, "seq")
    has_signals = "signals" in doc
    has_events = "events" in doc
    if not has_signals and not has_events:
        raise Rejected("schema", "message has neither 'signals' nor 'events'")
    t0 = _int_field(doc, "t0") if has_signals or "t0" in doc else -1
    if t0 >= 0:
        problem = timestamp_problem(t0, ctx.now_ms)
        if problem is not None:
            raise Rejected(problem.code, f"t0: {problem.detail}")
    out = Readings(vin=vin, seq=seq, t0_ms=t0, rejections=list(prior or ()))
    if has_signals:
        _signals(doc, t0, ctx, out)
    if has_events:
        _events(doc.get("events"), ctx, out)
    if out.t0_ms < 0:  # events-only message without t0: its first event dates it
        out.t0_ms = min((e.t_ms for e in out.events), default=0)
    if out.is_empty:
        first = out.rejections[0] if out.rejections else Rejection("schema", "no values")
        raise Rejected(first.code, first.detail)
    return out


def _signals(doc: dict[Any, Any], t0: int, ctx: DecodeContext, out: Readings) -> None:
    dt = doc.get("dt")
    signals = doc.get("signals")
    if not isinstance(dt, list) or not dt:
        raise Rejected("schema", "field 'dt' must be a non-empty list of integer offsets")
    if len(dt) > MAX_ROWS:
        raise Rejected("schema", f"dt has {len(dt)} entries, over the {MAX_ROWS} limit")
    if not isinstance(signals, dict):
        raise Rejected("schema", "field 'signals' must be a map of signal name to values")
    keep = _valid_rows(dt, t0, ctx, out)
    out.ts_ms = [t0 + off for off in dt] if keep is None else [t0 + dt[i] for i in keep]
    texts = load_catalog().texts
    if DTC_LIST in signals or not texts.keys().isdisjoint(signals):
        signals = dict(signals)  # lists and strings per row: kept apart from the numbers
        if DTC_LIST in signals:
            _dtc_reports(signals.pop(DTC_LIST), dt, t0, keep, out)
        for name in texts.keys() & signals.keys():
            _text_reports(name, signals.pop(name), dt, t0, keep, out)
    out.signals, out.values, out.value_count = signal_block(signals, len(dt), keep,
                                                            out.rejections)


def _dtc_reports(values: object, dt: list[Any], t0: int, keep: list[int] | None,
                 out: Readings) -> None:
    """The trouble-code reports of a message: one list (or null) per row."""
    if values is None:
        return
    spec = load_catalog().lists[DTC_LIST]
    for i, value in _per_row(DTC_LIST, values, dt, keep, spec.problem, out):
        out.dtc_reports.append((t0 + dt[i], tuple(sorted(set(value)))))


def _text_reports(name: str, values: object, dt: list[Any], t0: int, keep: list[int] | None,
                  out: Readings) -> None:
    """A text signal's reports (software versions): one string (or null) per row."""
    if values is None:
        return
    spec = load_catalog().texts[name]
    for i, value in _per_row(name, values, dt, keep, spec.problem, out):
        out.software_reports.append((t0 + dt[i], spec.component, value))


def _per_row(name: str, values: object, dt: list[Any], keep: list[int] | None,
             problem: Callable[[object], str | None], out: Readings) -> Iterator[tuple[int, Any]]:
    """The valid, non-null values of a signal kept apart from the numeric block, with their
    row; each invalid one is a rejection."""
    if not isinstance(values, list) or len(values) != len(dt):
        out.rejections.append(Rejection(
            "length_mismatch", f"{name}: expected a list of {len(dt)} values (one per row)"))
        return
    for i in range(len(dt)) if keep is None else keep:
        value = values[i]
        if value is None:
            continue
        why = problem(value)
        if why is not None:
            out.rejections.append(Rejection("bad_value", f"{name}[{i}]: {why}"))
            continue
        yield i, value


def _valid_rows(dt: list[Any], t0: int, ctx: DecodeContext, out: Readings) -> list[int] | None:
    """Indices of rows with a valid, first-seen timestamp; None when every row is valid."""
    if set(map(type, dt)) == _INT and len(set(dt)) == len(dt) \
            and timestamp_problem(t0 + min(dt), ctx.now_ms) is None \
            and timestamp_problem(t0 + max(dt), ctx.now_ms) is None:
        return None  # the common case, checked with C loops only
    keep: list[int] = []
    seen: set[int] = set()
    for i, off in enumerate(dt):
        if isinstance(off, bool) or not isinstance(off, int):
            raise Rejected("schema", f"dt[{i}] is {off!r}, expected an integer")
        ts = t0 + off
        problem = timestamp_problem(ts, ctx.now_ms)
        if problem is not None:
            out.rejections.append(problem)
        elif ts in seen:
            out.rejections.append(
                Rejection("duplicate_timestamp", f"dt[{i}] = {off} repeats an earlier offset")
            )
        else:
            seen.add(ts)
            keep.append(i)
    return keep


_INT = {int}


def _events(raw: object, ctx: DecodeContext, out: Readings) -> None:
    if not isinstance(raw, list):
        raise Rejected("schema", "field 'events' must be a list")
    if len(raw) > MAX_EVENTS:
        raise Rejected("schema", f"events has {len(raw)} entries, over the {MAX_EVENTS} limit")
    domains = load_catalog().event_domains
    for i, ev in enumerate(raw):
        problem = _event_problem(i, ev, ctx)
        if problem is not None:
            out.rejections.append(problem)
            continue
        assert isinstance(ev, dict)
        kind = ev["type"]
        out.events.append(CockpitEvent(ev["t"], kind, dict(ev.get("attrs") or {}), kind in domains))


def _event_problem(i: int, ev: object, ctx: DecodeContext) -> Rejection | None:
    if not isinstance(ev, dict):
        return Rejection("bad_event", f"events[{i}] is not a map")
    t = ev.get("t")
    if isinstance(t, bool) or not isinstance(t, int):
        return Rejection("bad_event", f"events[{i}].t is {t!r}, expected ms since epoch")
    problem = timestamp_problem(t, ctx.now_ms)
    if problem is not None:
        return Rejection(problem.code, f"events[{i}]: {problem.detail}")
    kind = ev.get("type")
    if not isinstance(kind, str) or not 0 < len(kind) <= 100:
        return Rejection("bad_event", f"events[{i}].type must be a string of 1..100 characters")
    attrs = ev.get("attrs", {})
    if attrs is None:
        return None
    if not isinstance(attrs, dict) or len(attrs) > MAX_ATTRS:
        return Rejection("bad_event", f"events[{i}].attrs must be a map of at most {MAX_ATTRS}")
    for key, value in attrs.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool | None):
            return Rejection("bad_event", f"events[{i}].attrs[{str(key)[:40]!r}] is not a scalar")
        if isinstance(value, float) and value != value:  # NaN cannot go into jsonb
            return Rejection("bad_event", f"events[{i}].attrs[{key!r}] is NaN")
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return Rejection("bad_event", f"events[{i}].attrs[{key!r}] is infinite")
    return None
