"""Records to the wire, through the core codecs only.

The emulator never formats an image itself: a :class:`~.store.Record` becomes a
``V1Image`` or ``V2Image`` and the core codecs (``imgcompat.core.v1`` / ``imgcompat.core.v2``)
write the headers and JSON, so the emulator and the client share one idea of the wire.
What is decided here is only what a real server of the configured minor shows.
"""

from __future__ import annotations

from typing import Any

import attrs

from imgcompat.core.enums import Visibility
from imgcompat.core.fields import BASE, V2_FIELDS, v2_fields_for_minor
from imgcompat.core.model import V1Image, V2Image
from imgcompat.core.v1 import v1image_to_v1_headers, v1image_to_v1_json
from imgcompat.core.v2 import v2image_to_v2_json

from .http import capitalize
from .store import Record

#: v2 keys that exist only from some minor on; a lower minor leaves them out entirely.
_V2_KEYS_BY_MINOR = {f.v2: f.v2_min_minor for f in V2_FIELDS if f.v2 is not None}
_BASE_V2_KEYS = frozenset(f.v2 for f in BASE if f.v2 is not None)


def v2_base_keys(minor: int) -> frozenset[str]:
    """The base (non-custom) keys of an image on a ``2.<minor>`` server."""
    return frozenset(f.v2 for f in v2_fields_for_minor(minor) if f.v2 is not None)


#: Kept on the record but never shown (Glance's ResponseSerializer._hidden_properties).
HIDDEN_PROPERTIES = frozenset({"os_glance_stage_host", "os_glance_hash_op_host"})


def to_v2image(record: Record, *, minor: int, show_direct_url: bool) -> V2Image:
    has_data = record.location is not None
    stores = ",".join(record.stores) if has_data and record.stores and minor >= 8 else None
    # A property named like a base key (possible through v1) is hidden: the base value
    # wins. ``stores`` is only set by Glance when there are stores to show.
    base = v2_base_keys(minor) - ({"stores"} if stores is None else set())
    props = {k: ("" if v is None else v) for k, v in record.properties.items()
             if k not in base and k not in HIDDEN_PROPERTIES}
    return V2Image(
        id=record.id,
        name=record.name,
        status=record.status,
        visibility=record.visibility,
        protected=record.protected,
        os_hidden=record.os_hidden,
        checksum=record.checksum,
        os_hash_algo=record.os_hash_algo,
        os_hash_value=record.os_hash_value,
        owner=record.owner,
        size=record.size,
        virtual_size=record.virtual_size,
        min_ram=record.min_ram,
        min_disk=record.min_disk,
        disk_format=record.disk_format,
        container_format=record.container_format,
        created_at=record.created_at,
        updated_at=record.updated_at,
        tags=record.tags,
        direct_url=record.location if has_data and show_direct_url else None,
        self_link=f"/v2/images/{record.id}",
        file_link=f"/v2/images/{record.id}/file",
        schema_link="/v2/schemas/image",
        stores=stores,
        properties=props,
    )


def v2_json(record: Record, *, minor: int, show_direct_url: bool) -> dict[str, Any]:
    """The entity a ``2.<minor>`` server answers for this record."""
    image = to_v2image(record, minor=minor, show_direct_url=show_direct_url)
    doc = v2image_to_v2_json(image)
    for key in list(doc):
        if key in _BASE_V2_KEYS and _V2_KEYS_BY_MINOR.get(key, 0) > minor:
            if key in image.properties:
                continue
            del doc[key]
    return doc


def to_v1image(record: Record) -> V1Image:
    return V1Image(
        id=record.id,
        name=record.name,
        status=record.status,
        is_public=record.visibility == Visibility.PUBLIC,
        protected=record.protected,
        disk_format=record.disk_format,
        container_format=record.container_format,
        size=record.size if record.size is not None else 0,
        virtual_size=record.virtual_size,
        checksum=record.checksum,
        min_ram=record.min_ram,
        min_disk=record.min_disk,
        owner=record.owner,
        created_at=record.created_at,
        updated_at=record.updated_at,
        deleted_at=record.deleted_at,
        deleted=record.deleted,
        properties={k: v for k, v in record.properties.items() if v is not None},
    )


def v1_json(record: Record) -> dict[str, Any]:
    """The v1 JSON object (``/detail`` item, POST/PUT answer); NULL properties show null."""
    doc = v1image_to_v1_json(to_v1image(record))
    doc["properties"] = dict(record.properties)
    return doc


V1_SUMMARY_KEYS = ("id", "name", "size", "disk_format", "container_format", "checksum")


def v1_summary_json(record: Record) -> dict[str, Any]:
    doc = v1_json(record)
    return {k: doc[k] for k in V1_SUMMARY_KEYS}


def v1_headers(record: Record) -> list[tuple[str, str]]:
    """HEAD/GET metadata headers: stored text as is, names capitalised like eventlet did."""
    image = to_v1image(record)
    # CR, LF and NUL cannot travel in a header (a v2 write may have stored them): such a
    # property is left out of the headers, as it is still in the JSON of /detail.
    safe = {k: v for k, v in image.properties.items()
            if not any(c in k + v for c in "\r\n\x00")}
    image = attrs.evolve(image, properties=safe)
    lowered = [(name, value) for name, value in
               v1image_to_v1_headers(image, percent_encode=False)]
    out = [(capitalize(name.lower()), value) for name, value in lowered]
    if record.checksum:
        out.append(("Etag", record.checksum))
    return out
