"""Pure decoders: payload bytes (+ topic context) to readings, the registry of formats, the
catalogs (signals, cockpit event types and domains, VSS releases) and the reject reasons.

No I/O happens here. May import only the standard library, its own modules and the
decoding libraries (msgpack, orjson, cantools, protobuf, numpy); nothing of the project.
"""
