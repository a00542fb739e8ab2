"""MQTT in: the wire codec, the native asyncio client, the aiomqtt client, acknowledgements.

Owns the broker connection and nothing else. Both clients implement ``base.Source`` and
neither imports the other. May import ``decoders`` (topics, the contract announcement) and
``gateway.settings`` / ``gateway.metrics``; never storage, derivations or HTTP.
"""
