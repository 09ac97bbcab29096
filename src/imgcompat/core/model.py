"""The frozen records: two wire models and the seam's own image.

``V1Image`` and ``V2Image`` say what one API said (``None`` = the wire did not carry it);
``Image`` is the record the rest of a compute service relies on, the same whichever API
served it. All three are immutable: a change is a new record (``attrs.evolve``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import attrs

from imgcompat.core.enums import ContainerFormat, DiskFormat, OpenStrEnum, Status, Visibility
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.immutable import JSON, FrozenDict, freeze, freeze_map

T = TypeVar("T")
E = TypeVar("E", bound=OpenStrEnum)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or (type(value) is datetime and value.tzinfo is UTC):
        return value  # already what the record holds (the codecs produce this)
    if not isinstance(value, datetime):
        raise InvalidRecord(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _enum_or_none(enum: type[E], value: object) -> E | None:
    if value is None:
        return None
    if isinstance(value, enum):
        return value
    if not isinstance(value, str):
        raise InvalidRecord(f"not a {enum.__name__}: {value!r}")
    try:
        return enum(value)
    except ValueError as exc:
        raise InvalidRecord(f"not a {enum.__name__}: {value!r}") from exc


# Converters run on every record built: the common case (already the target type) returns
# at once; anything else takes the general path.


def _opt_status(value: object) -> Status | None:
    if value is None or type(value) is Status:
        return value
    return _enum_or_none(Status, value)


def _opt_visibility(value: object) -> Visibility | None:
    if value is None or type(value) is Visibility:
        return value
    return _enum_or_none(Visibility, value)


def _opt_disk_format(value: object) -> DiskFormat | None:
    if value is None or type(value) is DiskFormat:
        return value
    return _enum_or_none(DiskFormat, value)


def _opt_container_format(value: object) -> ContainerFormat | None:
    if value is None or type(value) is ContainerFormat:
        return value
    return _enum_or_none(ContainerFormat, value)


def _str_map(value: Mapping[str, str] | None) -> FrozenDict[str, str]:
    if type(value) is FrozenDict and _STR_ONLY.issuperset(map(type, value)):
        return value  # immutable with plain str keys: what the copy below would give
    return FrozenDict({str(k): v for k, v in (value or {}).items()})


_STR_ONLY = frozenset({str})
#: Value types ``freeze`` leaves as they are (and that are not list or dict).
_FROZEN_TYPES = frozenset({str, int, float, bool, type(None), FrozenDict, tuple})


def _json_map(value: Mapping[str, JSON] | None) -> FrozenDict[str, JSON]:
    """``freeze_map``, with a C-speed check for the usual already-frozen flat map."""
    if (type(value) is FrozenDict and _STR_ONLY.issuperset(map(type, value))
            and _FROZEN_TYPES.issuperset(map(type, value.values()))):
        return value
    return freeze_map(value)


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    return value if type(value) is tuple and not value else tuple(value or ())


def _opt_tuple_of_str(value: Any) -> tuple[str, ...] | None:
    return None if value is None else _tuple_of_str(value)


@attrs.frozen
class Location:
    """One storage location of an image (v2 ``locations`` entry)."""

    url: str
    metadata: FrozenDict[str, JSON] = attrs.field(factory=FrozenDict, converter=freeze_map)


def _locations(value: Any) -> tuple[Location, ...]:
    if not value:
        return ()
    out = []
    for item in value or ():
        if isinstance(item, Location):
            out.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("url"), str):
            out.append(Location(item["url"], item.get("metadata") or {}))
        else:
            raise InvalidRecord(f"not a location: {item!r}", field="locations")
    return tuple(out)


def _opt_locations(value: Any) -> tuple[Location, ...] | None:
    return None if value is None else _locations(value)


@attrs.frozen
class Loss:
    """One thing a translation could not carry, and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@attrs.frozen
class Translated(Generic[T]):
    """A translation's result together with what it could not carry."""

    value: T
    losses: tuple[Loss, ...] = ()

    @property
    def lossless(self) -> bool:
        return not self.losses


@attrs.frozen
class V1Image:
    """An image as the v1 API states it (headers or v1 JSON); None = not on the wire."""

    id: str | None = None
    name: str | None = None
    status: Status | None = attrs.field(default=None, converter=_opt_status)
    is_public: bool | None = None
    protected: bool | None = None
    disk_format: DiskFormat | None = attrs.field(default=None, converter=_opt_disk_format)
    container_format: ContainerFormat | None = attrs.field(
        default=None, converter=_opt_container_format
    )
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    min_ram: int | None = None
    min_disk: int | None = None
    owner: str | None = None
    location: str | None = None
    created_at: datetime | None = attrs.field(default=None, converter=_utc)
    updated_at: datetime | None = attrs.field(default=None, converter=_utc)
    deleted_at: datetime | None = attrs.field(default=None, converter=_utc)
    deleted: bool | None = None
    properties: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_str_map)


@attrs.frozen
class V2Image:
    """An image as the v2 API states it; custom properties are the flat string keys."""

    id: str | None = None
    name: str | None = None
    status: Status | None = attrs.field(default=None, converter=_opt_status)
    visibility: Visibility | None = attrs.field(default=None, converter=_opt_visibility)
    protected: bool | None = None
    os_hidden: bool | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    owner: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    min_ram: int | None = None
    min_disk: int | None = None
    disk_format: DiskFormat | None = attrs.field(default=None, converter=_opt_disk_format)
    container_format: ContainerFormat | None = attrs.field(
        default=None, converter=_opt_container_format
    )
    created_at: datetime | None = attrs.field(default=None, converter=_utc)
    updated_at: datetime | None = attrs.field(default=None, converter=_utc)
    tags: tuple[str, ...] | None = attrs.field(default=None, converter=_opt_tuple_of_str)
    direct_url: str | None = None
    locations: tuple[Location, ...] | None = attrs.field(
        default=None, converter=_opt_locations
    )
    self_link: str | None = None
    file_link: str | None = None
    schema_link: str | None = None
    stores: str | None = None
    properties: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_str_map)


def _status(value: object) -> Status:
    if type(value) is Status:
        return value
    status = _opt_status(value)
    if status is None:
        raise InvalidRecord("an image needs a status", field="status")
    return status


def _visibility(value: object) -> Visibility:
    if type(value) is Visibility:
        return value
    visibility = _opt_visibility(value)
    if visibility is None:
        raise InvalidRecord("an image needs a visibility", field="visibility")
    return visibility


@attrs.frozen(slots=False)
class Image:
    """The seam's image record (``seam-contract.md``): one shape whichever API served it.

    Not slotted: a listing builds thousands, and attrs builds a frozen record through its
    ``__dict__`` a quarter faster than through 27 ``object.__setattr__`` calls (2.3 against
    3.2 µs here), for about 90 bytes more per record.

    Invariants checked on construction: ``is_public`` agrees with ``visibility``;
    ``deleted_at`` is set only when ``deleted``; sizes are non-negative.
    """

    id: str | None = None
    name: str | None = None
    status: Status = attrs.field(default=Status.QUEUED, converter=_status)
    is_public: bool = False
    visibility: Visibility = attrs.field(default=Visibility.PRIVATE, converter=_visibility)
    protected: bool = False
    os_hidden: bool = False
    deleted: bool = False
    deleted_at: datetime | None = attrs.field(default=None, converter=_utc)
    created_at: datetime | None = attrs.field(default=None, converter=_utc)
    updated_at: datetime | None = attrs.field(default=None, converter=_utc)
    size: int = 0
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    disk_format: DiskFormat | None = attrs.field(default=None, converter=_opt_disk_format)
    container_format: ContainerFormat | None = attrs.field(
        default=None, converter=_opt_container_format
    )
    min_disk: int = 0
    min_ram: int = 0
    owner: str | None = None
    direct_url: str | None = None
    locations: tuple[Location, ...] = attrs.field(default=(), converter=_locations)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    properties: FrozenDict[str, JSON] = attrs.field(factory=FrozenDict, converter=_json_map)

    def __attrs_post_init__(self) -> None:
        if self.is_public != (self.visibility == Visibility.PUBLIC):
            raise InvalidRecord(
                f"is_public={self.is_public} disagrees with visibility={self.visibility}",
                field="is_public",
            )
        if self.deleted_at is not None and not self.deleted:
            raise InvalidRecord("deleted_at set on an image that is not deleted",
                                field="deleted_at")
        size, min_disk, min_ram, virtual = self.size, self.min_disk, self.min_ram, self.virtual_size
        if (type(size) is int and size >= 0 and type(min_disk) is int and min_disk >= 0
                and type(min_ram) is int and min_ram >= 0
                and (virtual is None or (type(virtual) is int and virtual >= 0))):
            return  # the usual case, checked without the loop below
        for name in ("size", "min_disk", "min_ram", "virtual_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise InvalidRecord(f"must be a non-negative integer, got {value!r}",
                                    field=name)

    def with_properties(self, **changes: JSON) -> Image:
        """A copy with properties set (a value of None removes the property)."""
        props = dict(self.properties)
        for key, value in changes.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = freeze(value)
        return attrs.evolve(self, properties=props)

    def with_visibility(self, visibility: Visibility | str) -> Image:
        """A copy with visibility (and is_public) changed together."""
        vis = Visibility(visibility)
        return attrs.evolve(self, visibility=vis, is_public=vis == Visibility.PUBLIC)
