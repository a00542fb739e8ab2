"""The protobuf messages of ``proto/telematics.proto``, built at run time.

protoc is not needed to run the gateway: the file descriptor is written out here with
protobuf's descriptor API, field by field as in the .proto file (a test compiles the .proto
with protoc and compares the two descriptors).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "telematics.v1"
_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _field(msg: Any, name: str, number: int, kind: int, label: int = _OPTIONAL,
           type_name: str = "", json_name: str = "", oneof: int | None = None) -> None:
    f = msg.field.add(name=name, number=number, type=kind, label=label,
                      json_name=json_name or _camel(name))
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """telematics.proto as a FileDescriptorProto."""
    fd = descriptor_pb2.FileDescriptorProto(name="telematics.proto", package=PACKAGE,
                                            syntax="proto3")
    rec = fd.message_type.add(name="Record")
    _field(rec, "v", 1, _F.TYPE_UINT32)
    _field(rec, "vin", 2, _F.TYPE_STRING)
    _field(rec, "seq", 3, _F.TYPE_UINT64)
    _field(rec, "created_at_ms", 4, _F.TYPE_UINT64)
    _field(rec, "data", 5, _F.TYPE_MESSAGE, _REPEATED, f".{PACKAGE}.Datum")
    _field(rec, "events", 6, _F.TYPE_MESSAGE, _REPEATED, f".{PACKAGE}.Event")
    _field(rec, "vss", 7, _F.TYPE_STRING)
    datum = fd.message_type.add(name="Datum")
    datum.oneof_decl.add(name="value")
    _field(datum, "key", 1, _F.TYPE_STRING)
    _field(datum, "double_value", 2, _F.TYPE_DOUBLE, oneof=0)
    _field(datum, "int_value", 3, _F.TYPE_SINT64, oneof=0)
    _field(datum, "bool_value", 4, _F.TYPE_BOOL, oneof=0)
    _field(datum, "string_value", 5, _F.TYPE_STRING, oneof=0)
    event = fd.message_type.add(name="Event")
    _field(event, "t_ms", 1, _F.TYPE_UINT64)
    _field(event, "type", 2, _F.TYPE_STRING)
    _field(event, "attrs", 3, _F.TYPE_MESSAGE, _REPEATED, f".{PACKAGE}.Event.AttrsEntry")
    entry = event.nested_type.add(name="AttrsEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_STRING)
    return fd


@cache
def message_classes() -> dict[str, Any]:
    """Name -> message class (Record, Datum, Event), from a private descriptor pool."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_descriptor())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"{PACKAGE}.{name}")) for name in ("Record", "Datum", "Event")}
