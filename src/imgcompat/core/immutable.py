"""A hashable read-only mapping, and deep freezing of JSON values.

Records are frozen attrs classes; their property maps (and the structured values inside,
such as ``block_device_mapping``) must be frozen too, or "immutable" would be a promise only.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: A JSON value as Python holds it (lists may be tuples once frozen).
JSON = Any


class FrozenDict(Mapping[K, V]):
    """A read-only, hashable mapping that keeps insertion order."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | None = None, /) -> None:
        self._data: dict[K, V] = dict(data) if data is not None else {}
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # The dict's own read-only views and lookups: the Mapping defaults go through
    # __getitem__ once per key in Python, and records read their properties often.

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def keys(self) -> KeysView[K]:
        return self._data.keys()

    def values(self) -> ValuesView[V]:
        return self._data.values()

    def items(self) -> ItemsView[K, V]:
        return self._data.items()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def freeze(value: JSON) -> JSON:
    """Deep-freeze a JSON value: dicts become FrozenDict, lists become tuples."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: JSON) -> JSON:
    """Undo :func:`freeze`, giving plain dicts and lists (for JSON and for callers)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def freeze_map(value: Mapping[str, JSON] | None) -> FrozenDict[str, JSON]:
    """attrs converter for property maps."""
    if isinstance(value, FrozenDict) and all(
        not isinstance(v, list | dict) for v in value.values()
    ):
        return value
    return FrozenDict({str(k): freeze(v) for k, v in (value or {}).items()})
