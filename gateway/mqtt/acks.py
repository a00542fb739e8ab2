"""Acknowledge MQTT messages in the order they arrived, once their batch has committed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Budget:
    """Messages and payload bytes received and not yet committed, over every connection of
    one source: after a reconnect the pipeline still holds what the old connection
    delivered, so the limits that pause reading must count it too."""

    messages: int = 0
    bytes: int = 0


class AckSequencer:
    """Batches may commit out of order (several writers); PUBACKs still leave in order
    (MQTT 5 [MQTT-4.6.0-2], MQTT 3.1.1 section 4.6).

    One sequencer per broker connection: after a reconnect the broker redelivers whatever
    was not acknowledged, so acks meant for the old connection are dropped (their messages
    still leave the shared budget when they commit).
    """

    def __init__(self, send_ack: Callable[[int, int], None], budget: Budget | None = None
                 ) -> None:
        self._send_ack = send_ack
        self._next_index = 0
        self._issued = 0
        self._waiting: dict[int, tuple[int, int]] = {}  # index -> (mid, qos), committed
        self.closed = False
        self.budget = budget or Budget()

    def register(self, size: int = 0) -> int:
        """Number the next received message (``size``: its payload bytes)."""
        index = self._issued
        self._issued += 1
        self.budget.messages += 1
        self.budget.bytes += size
        return index

    @property
    def outstanding(self) -> int:
        """Received on this connection and not yet acknowledged."""
        return self._issued - self._next_index

    def skip(self, mid: int, qos: int) -> None:
        """Acknowledge, in its turn, a received message that is not ingested (a retained
        copy replayed at subscribe)."""
        self.done(self.register(0), mid, qos)

    def done(self, index: int, mid: int, qos: int, size: int = 0) -> None:
        """Message ``index`` (``size`` payload bytes) is committed; send every ack that is
        now in order."""
        self.budget.messages -= 1
        self.budget.bytes -= size
        if self.closed:
            return
        self._waiting[index] = (mid, qos)
        while self._next_index in self._waiting:
            mid_, qos_ = self._waiting.pop(self._next_index)
            self._next_index += 1
            self._send_ack(mid_, qos_)  # QoS 0 too: it tells the source one more is done
