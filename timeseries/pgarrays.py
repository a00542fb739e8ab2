"""PostgreSQL array literals for bulk parameters (``unnest(%s::int[])``).

psycopg adapts a Python list element by element in Python; joining ``repr`` of numbers
runs in C and is an order of magnitude faster for the thousands of values a batch carries.
"""

from __future__ import annotations

from collections.abc import Iterable


def numbers(values: Iterable[int | float | None]) -> str:
    """``{1,2.5,NULL}`` for integer or double arrays (``repr`` of a float reads back as
    the same double; ``None``, which no digit string contains, becomes NULL)."""
    return "{" + ",".join(map(repr, values)).replace("None", "NULL") + "}"


def texts(values: Iterable[str]) -> str:
    """``{"a","b\\"c"}``: every element quoted, backslash and quote escaped."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"
