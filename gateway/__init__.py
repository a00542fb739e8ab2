"""The gateway process: MQTT in (``gateway.mqtt``), the batching pipeline, HTTP out
(``gateway.http``), operator tools (``gateway.ops``), settings, the CLI and the ordered
schema migrations.

May import every layer below (``features``, ``timeseries``, ``decoders``); never the
simulator, the benchmarks or the tests.
"""

__version__ = "0.1.0"
