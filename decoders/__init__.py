"""Pure decoders: payload bytes (+ topic context) to readings. No I/O happens here."""
