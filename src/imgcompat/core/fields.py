"""The one declarative table of image attributes.

Every codec and translation reads this table instead of naming fields in if/else chains:
where an attribute lives on each wire (v1 header / JSON key, v2 key), what type it has,
whether a client may write it, whether it is a base attribute or a custom property with
special handling, and from which v2 minor it exists. Adding a row here is enough for the
codecs, the update planners and the Hypothesis strategies to pick the field up.

Naming convention: ``V1Image`` attributes are named by their v1 key, ``V2Image`` and the
seam ``Image`` by :attr:`Field.name`.
"""

from __future__ import annotations

from enum import Enum

import attrs


class Kind(Enum):
    """How a value is typed and encoded."""

    STR = "str"
    INT = "int"
    BOOL = "bool"
    DATETIME = "datetime"
    STATUS = "status"
    VISIBILITY = "visibility"
    DISK_FORMAT = "disk_format"
    CONTAINER_FORMAT = "container_format"
    TAGS = "tags"  # list of strings
    LOCATIONS = "locations"  # list of {url, metadata}
    LINK = "link"  # server-made URL path (self, file, schema)
    JSON = "json"  # a property whose value travels as a JSON string
    REF = "ref"  # a property naming another image; "" and "none" mean no value


@attrs.frozen
class Field:
    """One image attribute and where it lives on each wire."""

    name: str
    kind: Kind
    v1: str | None = None
    v2: str | None = None
    read_only: bool = False
    base: bool = True
    in_seam: bool = True
    v2_min_minor: int = 0
    #: Settable by a client when the image is created, read-only afterwards.
    create_only: bool = False
    #: Left out of a v2 body when None (a null ``owner`` is refused for non-admins).
    omit_none: bool = False


F = Field
K = Kind

FIELDS: tuple[Field, ...] = (
    F("id", K.STR, v1="id", v2="id", read_only=True, create_only=True),
    F("name", K.STR, v1="name", v2="name"),
    F("status", K.STATUS, v1="status", v2="status", read_only=True),
    F("is_public", K.BOOL, v1="is_public"),
    F("visibility", K.VISIBILITY, v2="visibility"),
    F("protected", K.BOOL, v1="protected", v2="protected"),
    F("os_hidden", K.BOOL, v2="os_hidden", v2_min_minor=7),
    F("deleted", K.BOOL, v1="deleted", read_only=True),
    F("deleted_at", K.DATETIME, v1="deleted_at", read_only=True),
    F("created_at", K.DATETIME, v1="created_at", v2="created_at", read_only=True),
    F("updated_at", K.DATETIME, v1="updated_at", v2="updated_at", read_only=True),
    F("size", K.INT, v1="size", v2="size", read_only=True),
    F("virtual_size", K.INT, v1="virtual_size", v2="virtual_size", read_only=True),
    F("checksum", K.STR, v1="checksum", v2="checksum", read_only=True),
    F("os_hash_algo", K.STR, v2="os_hash_algo", read_only=True, v2_min_minor=7),
    F("os_hash_value", K.STR, v2="os_hash_value", read_only=True, v2_min_minor=7),
    F("disk_format", K.DISK_FORMAT, v1="disk_format", v2="disk_format"),
    F("container_format", K.CONTAINER_FORMAT, v1="container_format", v2="container_format"),
    F("min_disk", K.INT, v1="min_disk", v2="min_disk"),
    F("min_ram", K.INT, v1="min_ram", v2="min_ram"),
    F("owner", K.STR, v1="owner", v2="owner", omit_none=True),
    F("direct_url", K.STR, v1="location", v2="direct_url", read_only=True),
    F("locations", K.LOCATIONS, v2="locations", read_only=True),
    F("tags", K.TAGS, v2="tags"),
    # Server-made keys of a v2 entity: never properties, never in the seam record.
    F("self_link", K.LINK, v2="self", read_only=True, in_seam=False),
    F("file_link", K.LINK, v2="file", read_only=True, in_seam=False),
    F("schema_link", K.LINK, v2="schema", read_only=True, in_seam=False),
    F("stores", K.STR, v2="stores", read_only=True, in_seam=False),
    # Custom properties with rules of their own (seam-contract.md, "Properties").
    F("block_device_mapping", K.JSON, base=False),
    F("mappings", K.JSON, base=False),
    F("kernel_id", K.REF, base=False),
    F("ramdisk_id", K.REF, base=False),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
BASE: tuple[Field, ...] = tuple(f for f in FIELDS if f.base)
V1_FIELDS: tuple[Field, ...] = tuple(f for f in BASE if f.v1 is not None)
V2_FIELDS: tuple[Field, ...] = tuple(f for f in BASE if f.v2 is not None)
BY_V1_KEY: dict[str, Field] = {f.v1: f for f in V1_FIELDS if f.v1 is not None}
BY_V2_KEY: dict[str, Field] = {f.v2: f for f in V2_FIELDS if f.v2 is not None}
SPECIAL_PROPERTIES: dict[str, Field] = {f.name: f for f in FIELDS if not f.base}

#: Keys a v2 server reserves: a custom property of that name is refused (403).
V2_RESERVED_PROPERTIES = frozenset({"location", "deleted", "deleted_at"})
V2_RESERVED_PREFIX = "os_glance"

V1_META_PREFIX = "x-image-meta-"
V1_PROPERTY_PREFIX = "x-image-meta-property-"
V1_PURGE_HEADER = "x-glance-registry-purge-props"

#: The newest v2 minor this library knows the fields of.
LATEST_V2_MINOR = 18


def v2_fields_for_minor(minor: int) -> tuple[Field, ...]:
    """The v2 base fields a server of ``2.<minor>`` knows."""
    return tuple(f for f in V2_FIELDS if f.v2_min_minor <= minor)


def is_v2_reserved(key: str) -> bool:
    """True when a v2 server refuses ``key`` as a custom property name."""
    return key in V2_RESERVED_PROPERTIES or key.startswith(V2_RESERVED_PREFIX)
