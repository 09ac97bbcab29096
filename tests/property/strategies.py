"""Hypothesis strategies built from the field table (``imgcompat.core.fields.FIELDS``).

Every :class:`~imgcompat.core.fields.Kind` maps to a value strategy in :data:`KIND_STRATEGIES`;
the record strategies iterate the table, so a row added to ``FIELDS`` is fuzzed the day it
is declared (and ``test_strategies.py`` fails if its kind has no strategy).

Records are generated the way a real server produces them ("representable" records):
every base key present, checksum and multihash only on active images, a v2 ``size`` of
null only while there is no data, whole-second v2 times, v2 tags as a sorted set,
structured properties as canonical ``json.dumps`` text, kernel_id / ramdisk_id never
``"none"``. A few per-field rules (which fields a server always sends, value shapes such
as an MD5 hex) sit in small tables keyed by field name; a new field gets the generic rule.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from imgcompat.core.enums import (
    V1_STATUSES,
    ContainerFormat,
    DiskFormat,
    OpenStrEnum,
    Status,
    Visibility,
)
from imgcompat.core.fields import (
    BY_V2_KEY,
    FIELDS,
    LATEST_V2_MINOR,
    SPECIAL_PROPERTIES,
    V1_FIELDS,
    Field,
    Kind,
    is_v2_reserved,
    v2_fields_for_minor,
)
from imgcompat.core.model import Image, Location, V1Image, V2Image

Strategy = st.SearchStrategy[Any]
#: A value strategy for one field, given the API ("1" or "2") it is generated for.
KindStrategy = Callable[[Field, str], Strategy]

# ----------------------------------------------------------------------------- scalars

#: Printable text without CR/LF/NUL (a real server never stores those in these fields).
_PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
SHORT_TEXT = st.text(_PRINTABLE, max_size=24)
ASCII_WORD = st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=10)
UNKNOWN_ENUM = st.from_regex(r"\A[a-z][a-z0-9_]{0,11}\Z")
UUIDS = st.uuids().map(str)
HEX32 = st.text("0123456789abcdef", min_size=32, max_size=32)
HEX128 = st.text("0123456789abcdef", min_size=128, max_size=128)


def _datetimes(api: str) -> Strategy:
    base = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))
    if api == "2":
        base = base.map(lambda d: d.replace(microsecond=0))
    return base.map(lambda d: d.replace(tzinfo=UTC))


def _open_enum(enum: type[OpenStrEnum]) -> Strategy:
    members: list[OpenStrEnum] = sorted(enum, key=str)
    return st.one_of(st.sampled_from(members), UNKNOWN_ENUM.map(enum))


def _status(f: Field, api: str) -> Strategy:
    if api == "1":  # a v1 server knows six statuses
        return st.sampled_from(sorted(V1_STATUSES, key=str))
    return _open_enum(Status)


def _tags(f: Field, api: str) -> Strategy:
    # A v2 server keeps tags as a set and answers them sorted.
    return st.lists(SHORT_TEXT.filter(bool), max_size=4, unique=True).map(
        lambda tags: tuple(sorted(tags))
    )


def _locations(f: Field, api: str) -> Strategy:
    location = st.builds(
        Location,
        url=st.from_regex(r"\Afile:///var/lib/glance/images/[a-z0-9-]{1,36}\Z"),
        metadata=st.dictionaries(ASCII_WORD, SHORT_TEXT, max_size=2),
    )
    return st.lists(location, min_size=1, max_size=2).map(tuple)


def _link(f: Field, api: str) -> Strategy:
    return st.builds(lambda i: f"/v2/{f.name.removesuffix('_link')}/{i}", UUIDS)


def _json(f: Field, api: str) -> Strategy:
    # Structured properties (block_device_mapping, mappings): a list of small objects,
    # as compact json.dumps text (what the codec writes: no spaces, so no percent-encoding
    # on a v1 header).
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), SHORT_TEXT)
    item = st.dictionaries(ASCII_WORD, leaf, max_size=3)
    return st.lists(item, max_size=3).map(lambda v: json.dumps(v, separators=(",", ":")))


def _ref(f: Field, api: str) -> Strategy:
    return UUIDS  # "" and "none" mean "no image" and are not sent: not representable


_STR_SHAPES: dict[str, Strategy] = {
    "id": UUIDS,
    "checksum": HEX32,
    "os_hash_algo": st.sampled_from(["sha512", "sha256"]),
    "os_hash_value": HEX128,
    "direct_url": st.from_regex(r"\Afile:///var/lib/glance/images/[a-z0-9-]{1,36}\Z"),
    "stores": st.sampled_from(["fs", "fs,ceph"]),
}


def _str(f: Field, api: str) -> Strategy:
    return _STR_SHAPES.get(f.name, SHORT_TEXT)


KIND_STRATEGIES: dict[Kind, KindStrategy] = {
    Kind.STR: _str,
    Kind.INT: lambda f, api: st.integers(0, 2**40),
    Kind.BOOL: lambda f, api: st.booleans(),
    Kind.DATETIME: lambda f, api: _datetimes(api),
    Kind.STATUS: _status,
    Kind.VISIBILITY: lambda f, api: _open_enum(Visibility),
    Kind.DISK_FORMAT: lambda f, api: _open_enum(DiskFormat),
    Kind.CONTAINER_FORMAT: lambda f, api: _open_enum(ContainerFormat),
    Kind.TAGS: _tags,
    Kind.LOCATIONS: _locations,
    Kind.LINK: _link,
    Kind.JSON: _json,
    Kind.REF: _ref,
}


@functools.cache
def value_for(f: Field, api: str) -> Strategy:
    """The value strategy of one field of the table (built once: strategies are reused)."""
    return KIND_STRATEGIES[f.kind](f, api)


@functools.cache
def _field_value(f: Field, api: str, nullable: bool) -> Strategy:
    return _maybe(value_for(f, api), nullable)


# -------------------------------------------------------------------- wire presence rules

#: Fields a v1 server always sends (JSON keys / HEAD headers); every other field is nullable.
V1_ALWAYS = frozenset({"id", "status", "is_public", "protected", "deleted", "size", "min_ram",
                       "min_disk", "created_at", "updated_at"})
#: Fields a v2 server may leave out or null; every other v2 base field is always there.
V2_NULLABLE = frozenset({"name", "owner", "virtual_size", "disk_format", "container_format",
                         "direct_url", "locations", "stores"})
#: Fields whose value the server derives from others (set by the record builders below).
DERIVED = frozenset({"deleted", "deleted_at", "checksum", "os_hash_algo", "os_hash_value",
                     "size"})
_NO_DATA = frozenset({Status.QUEUED, Status.SAVING, Status.UPLOADING, Status.IMPORTING})


def _maybe(strategy: Strategy, nullable: bool) -> Strategy:
    return st.one_of(st.none(), strategy) if nullable else strategy


_V1_TIMES = _datetimes("1")
_MAYBE_HEX32 = _maybe(HEX32, True)
_SIZES = st.integers(0, 2**40)
_HASH_ALGOS = st.sampled_from(["sha512", "sha256"])


# -------------------------------------------------------------------------- properties


@functools.cache
def property_names(*, api: str, lower: bool = False) -> Strategy:
    """Custom property names a server of ``api`` stores (never a special one)."""
    alphabet = string.ascii_lowercase + string.digits + "_" + ("" if lower else "ABCXYZ")
    simple = st.text(alphabet, min_size=1, max_size=12)
    unicode = st.text(_PRINTABLE, min_size=1, max_size=8)
    if lower:
        unicode = unicode.map(lambda s: "".join(c.lower() if c.isascii() else c for c in s))
    names = st.one_of(simple, simple, unicode).filter(lambda k: k.strip() == k and bool(k))
    names = names.filter(lambda k: k not in SPECIAL_PROPERTIES)
    if api == "2":
        names = names.filter(lambda k: k not in BY_V2_KEY and not is_v2_reserved(k))
    return names


@functools.cache
def special_properties(api: str) -> Strategy:
    """Each special property of the table (base=False), present or not."""
    parts = {
        name: _maybe(value_for(f, api), nullable=True) for name, f in SPECIAL_PROPERTIES.items()
    }
    return st.fixed_dictionaries(parts).map(lambda d: {k: v for k, v in d.items() if v is not None})


@functools.cache
def properties(*, api: str, lower: bool = False, max_size: int = 5) -> Strategy:
    custom = st.dictionaries(property_names(api=api, lower=lower), SHORT_TEXT, max_size=max_size)
    return st.builds(lambda c, s: {**c, **s}, custom, special_properties(api))


# ----------------------------------------------------------------------------- records


@st.composite
def v1_images(draw: st.DrawFn, *, lower_names: bool = False, max_props: int = 5) -> V1Image:
    """A V1Image as a v1 server states it (headers need ``lower_names``: names are lowered)."""
    values: dict[str, Any] = {}
    for f in V1_FIELDS:
        assert f.v1 is not None
        if f.name in DERIVED:
            continue
        values[f.v1] = draw(_field_value(f, "1", f.name not in V1_ALWAYS))
    status = values["status"]
    active = status == Status.ACTIVE
    deleted = status in (Status.DELETED, Status.PENDING_DELETE)
    values["deleted"] = deleted
    values["deleted_at"] = draw(_V1_TIMES) if deleted else None
    values["checksum"] = draw(_MAYBE_HEX32) if active else None
    values["size"] = draw(_SIZES) if status not in _NO_DATA else 0
    props = draw(properties(api="1", lower=lower_names, max_size=max_props))
    return V1Image(**values, properties=props)


@st.composite
def v2_images(draw: st.DrawFn, *, minor: int = LATEST_V2_MINOR, max_props: int = 5) -> V2Image:
    """A V2Image as a v2 server of ``2.<minor>`` answers it."""
    values: dict[str, Any] = {}
    for f in v2_fields_for_minor(minor):
        if f.name in DERIVED:
            continue
        values[f.name] = draw(_field_value(f, "2", f.name in V2_NULLABLE))
    status = values["status"]
    if status == Status.ACTIVE:
        values["checksum"] = draw(HEX32)
        if minor >= 7:
            values["os_hash_algo"] = draw(_HASH_ALGOS)
            values["os_hash_value"] = draw(HEX128)
    values["size"] = None if status in _NO_DATA else draw(_SIZES)
    props = draw(properties(api="2", max_size=max_props))
    return V2Image(**values, properties=props)


@functools.cache
def images(max_props: int = 5) -> st.SearchStrategy[Image]:
    """Seam records as a v2 server's answers give them."""
    from imgcompat.core.translate import v2_to_image

    return v2_images(max_props=max_props).map(v2_to_image)


def _all_fields_covered() -> frozenset[Kind]:
    return frozenset(f.kind for f in FIELDS)
