"""The store's sorted orders: what lets a listing page cost what the page holds.

Glance lists by ``created_at`` then ``id`` (both descending) unless told otherwise, and
appends ``created_at`` and ``id`` to any sort it is given, so callers sorting by ``name`` or
``updated_at`` get those two as tie-breakers. The store keeps each of these orders as a
sorted list of keys, changed on every write under the store's lock, so that a listing finds
where its marker sits by bisection and reads a page by walking on from there, instead of
filtering and sorting the whole store for every page. One list serves both directions: keys
are unique (``id`` ends every order), so descending is the ascending list walked backwards.

Keys order values as the full scan does (:func:`sort_value`: NULL before any value), and
only live records are kept (a soft-deleted one is never listed, nor taken as a marker).
The list is a plain ``list`` kept sorted with :mod:`bisect`: an insertion moves pointers
(microseconds at tens of thousands of images), which keeps the dependency list short.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from .store import Record

#: One record's place in an order: :func:`sort_value` of each column, the id's last.
Key = tuple[tuple[bool, Any], ...]

#: The orders the store keeps: Glance's default, and ``name`` / ``updated_at`` with the
#: columns Glance appends. Their leading column is text or never NULL (see ``v2_listing``:
#: its marker rule treats a NULL text as ``''``).
ORDERS: tuple[tuple[str, ...], ...] = (
    ("created_at", "id"),
    ("updated_at", "created_at", "id"),
    ("name", "created_at", "id"),
)


def sort_value(value: Any) -> tuple[bool, Any]:
    """A column's value as listings sort it: NULL before every value (ascending)."""
    return (value is not None, "" if value is None else value)


def order_key(record: Record, columns: tuple[str, ...]) -> Key:
    """Where ``record`` sits in the order of ``columns``."""
    return tuple(sort_value(getattr(record, column)) for column in columns)


@attrs.frozen
class Start:
    """Where a walk begins: past the keys whose first ``len(prefix)`` columns equal
    ``prefix`` (``inclusive``: at the first of them)."""

    prefix: Key
    inclusive: bool = False


class SortedIndex:
    """One order's keys, ascending. Not locked itself: the store changes and walks it
    under its own lock."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        if columns[-1] != "id":
            raise ValueError(f"an order must end with the id to be total: {columns}")
        self.columns = columns
        self._keys: list[Key] = []

    def move(self, old: Record | None, new: Record | None) -> None:
        """``old``'s key makes way for ``new``'s (None: nothing to remove, or to add)."""
        old_key = None if old is None else order_key(old, self.columns)
        new_key = None if new is None else order_key(new, self.columns)
        if old_key == new_key:
            return
        if old_key is not None:
            at = bisect_left(self._keys, old_key)
            if at < len(self._keys) and self._keys[at] == old_key:
                del self._keys[at]
        if new_key is not None:
            insort(self._keys, new_key)

    def ids(self, start: Start | None, *, descending: bool) -> Iterator[str]:
        """The ids in this order (or its reverse) from ``start`` on; the index must not
        change while the iterator is in use."""
        keys = self._keys
        if start is None:
            positions = range(len(keys) - 1, -1, -1) if descending else range(len(keys))
        else:
            width = len(start.prefix)

            def head(key: Key) -> Key:
                return key[:width]

            if descending:
                find = bisect_right if start.inclusive else bisect_left
                positions = range(find(keys, start.prefix, key=head) - 1, -1, -1)
            else:
                find = bisect_left if start.inclusive else bisect_right
                positions = range(find(keys, start.prefix, key=head), len(keys))
        for at in positions:
            yield keys[at][-1][1]
