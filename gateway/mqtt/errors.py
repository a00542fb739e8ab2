"""The MQTT package's own error tree: both clients raise these, callers catch only these."""

from __future__ import annotations


class MqttError(Exception):
    """The broker connection failed or ended; the source reconnects."""


class ConnectionRefused(MqttError):
    """The broker answered CONNECT with a refusal (its reason code in the message)."""


class SubscriptionRefused(MqttError):
    """The broker refused a subscription or granted less than asked."""


class BrokerProtocolError(MqttError):
    """The broker sent bytes that are not valid MQTT."""
