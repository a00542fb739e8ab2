"""The gateway process: MQTT in, HTTP out."""

__version__ = "0.1.0"
