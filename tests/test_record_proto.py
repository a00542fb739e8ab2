"""The protobuf messages built at run time are exactly those of decoders/proto/telematics.proto
(compiled here with protoc from grpcio-tools)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from decoders.record_pb import file_descriptor

PROTO = Path(__file__).resolve().parent.parent / "decoders" / "proto"


def test_runtime_descriptor_equals_the_compiled_proto(tmp_path: Path) -> None:
    out = tmp_path / "telematics.desc"
    assert protoc.main(["protoc", f"-I{PROTO}", f"--descriptor_set_out={out}",
                        str(PROTO / "telematics.proto")]) == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    assert compiled == file_descriptor()
