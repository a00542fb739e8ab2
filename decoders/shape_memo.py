"""Templates of recurring payload shapes, kept by byte length: the memory shared by the
readers that take a payload straight from its bytes (``decoders.can_template`` for CAN
batches, ``decoders.map_template`` for MessagePack maps).

A shape is worth recording only when it recurs, so a template is made the second time a
length is seen: a fleet whose shapes never repeat pays for a set of lengths and nothing
else. The memo is bounded: past ``limit`` lengths seen, or ``limit`` templates kept, it
forgets all of them (the next sightings start again), and it keeps the newest
``per_length`` templates of any one length (different shapes may share a length).
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class ShapeMemo(Generic[T]):
    """Templates by payload length, made on a length's second sighting."""

    def __init__(self, limit: int = 512, per_length: int = 4) -> None:
        self.limit = limit
        self.per_length = per_length
        self.by_length: dict[int, list[T]] = {}  # newest first
        self.sightings: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self.by_length)

    def candidates(self, length: int) -> list[T] | None:
        """The templates of payloads of ``length`` bytes, newest first (None: none)."""
        return self.by_length.get(length)

    def second_sight(self, length: int) -> bool:
        """Note a payload of ``length`` bytes; True if that length was seen before (a
        template of it is worth making)."""
        if length in self.sightings:
            return True
        if len(self.sightings) >= self.limit:
            self.sightings.clear()
        self.sightings.add(length)
        return False

    def keep(self, length: int, template: T) -> None:
        """Keep a new template of payloads of ``length`` bytes."""
        if sum(map(len, self.by_length.values())) >= self.limit:
            self.by_length.clear()
        same = self.by_length.setdefault(length, [])
        same.insert(0, template)
        del same[self.per_length:]

    def clear(self) -> None:
        """Forget every template and sighting."""
        self.by_length.clear()
        self.sightings.clear()
