"""Translation between the wire models and the seam record: V1Image <-> Image <-> V2Image.

Reading (wire -> Image) applies the seam's normalisations (size None -> 0, checksum only
when active, structured properties decoded). Writing (Image -> wire) returns a
:class:`Translated` whose ``losses`` name everything the target API cannot carry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from imgcompat.core.enums import V1_STATUSES, Status, Visibility
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import (
    BY_NAME,
    BY_V2_KEY,
    LATEST_V2_MINOR,
    SPECIAL_PROPERTIES,
    V1_FIELDS,
    V2_FIELDS,
    Field,
    Kind,
    is_v2_reserved,
)
from imgcompat.core.immutable import JSON, FrozenDict, thaw
from imgcompat.core.model import Image, Loss, Translated, V1Image, V2Image


def decode_properties(props: FrozenDict[str, str]) -> dict[str, JSON]:
    """Wire property strings as seam values (JSON-typed ones decoded)."""
    out: dict[str, JSON] = {}
    for key, text in props.items():
        special = SPECIAL_PROPERTIES.get(key)
        if special is not None and special.kind is Kind.JSON:
            try:
                decoded = json.loads(text)
            except ValueError as exc:
                raise InvalidRecord(f"is not valid JSON: {text[:60]!r}",
                                    field=f"properties.{key}") from exc
            # Only structures are decoded: a JSON scalar ("null", "5") stays the text it
            # was, so that a null never turns into "remove this property" on the way back.
            out[key] = decoded if isinstance(decoded, list | dict) else text
        else:
            out[key] = text
    return out


#: Property names whose text :func:`decode_properties` turns into a structure.
_JSON_PROPERTIES = frozenset(k for k, f in SPECIAL_PROPERTIES.items() if f.kind is Kind.JSON)


def _seam_properties(props: FrozenDict[str, str]) -> Mapping[str, JSON]:
    """:func:`decode_properties`, sharing the frozen map when it has nothing to decode."""
    if _JSON_PROPERTIES.isdisjoint(props):
        return props  # same keys and texts; frozen already, so the record may share it
    return decode_properties(props)


def encode_property(key: str, value: JSON, *, api: str) -> tuple[str | None, Loss | None]:
    """A seam property value as the wire string, or None when it is not sent."""
    special: Field | None = SPECIAL_PROPERTIES.get(key)
    if value is None:
        return None, None
    field = f"properties.{key}"
    if special is not None and special.kind is Kind.JSON:
        # Compact JSON: no spaces, so it crosses a v1 header without percent-encoding.
        text = value if isinstance(value, str) else json.dumps(thaw(value),
                                                               separators=(",", ":"))
        return text, None
    if (special is not None and special.kind is Kind.REF and api == "2"
            and isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None, Loss(field, f"{value!r} means no image: not sent to v2")
    if isinstance(value, str):
        return value, None
    text = str(value) if isinstance(value, bool | int | float) else json.dumps(thaw(value))
    return text, Loss(field, f"{type(value).__name__} value travels as the text {text!r}")


def encode_properties(
    props: Mapping[str, JSON], *, api: str
) -> tuple[dict[str, str], list[Loss]]:
    """The wire strings of a record's properties for ``api``, and what is lost on the way
    (names a v2 server reserves are not sent)."""
    out: dict[str, str] = {}
    losses: list[Loss] = []
    v2 = api == "2"
    for key, value in props.items():
        if v2 and (key in BY_V2_KEY or is_v2_reserved(key)):
            losses.append(Loss(f"properties.{key}",
                               "a v2 server reserves this name: not sent"))
            continue
        if type(value) is str and key not in SPECIAL_PROPERTIES:
            out[key] = value  # what encode_property gives for text, without the call
            continue
        text, loss = encode_property(key, value, api=api)
        if loss is not None:
            losses.append(loss)
        if text is not None:
            out[key] = text
    return out, losses


def _checksum(status: Status, checksum: str | None) -> str | None:
    return checksum if status == Status.ACTIVE else None


#: The attributes a translation copies as they are (then normalises some): every table row
#: the two records share, so a new row travels without touching this module.
_V1_COPIED: tuple[tuple[str, str], ...] = tuple(  # (v1 attribute, seam attribute)
    (f.v1, f.name) for f in V1_FIELDS if f.v1 is not None)
_V2_COPIED: tuple[Field, ...] = tuple(f for f in V2_FIELDS if f.in_seam)

#: Statuses in which a v2 image has no data yet: its ``size`` is null on the wire.
_NO_DATA_STATUSES = frozenset({Status.QUEUED, Status.SAVING, Status.UPLOADING,
                               Status.IMPORTING})


def _v2_size(status: Status, size: int) -> int | None:
    """The seam's "size None becomes 0", undone for an image that has no data yet."""
    return None if size == 0 and status in _NO_DATA_STATUSES else size


def v1_to_image(v1: V1Image) -> Image:
    """The seam record of a v1 image (a summary-list entry is an active image)."""
    values: dict[str, Any] = {name: getattr(v1, key) for key, name in _V1_COPIED}
    status = v1.status if v1.status is not None else Status.ACTIVE
    is_public = bool(v1.is_public)
    deleted = bool(v1.deleted) if v1.deleted is not None else status == Status.DELETED
    values.update(
        status=status,
        is_public=is_public,
        visibility=Visibility.PUBLIC if is_public else Visibility.PRIVATE,
        protected=bool(v1.protected),
        deleted=deleted or v1.deleted_at is not None,
        size=v1.size or 0,
        checksum=_checksum(status, v1.checksum),
        min_disk=v1.min_disk or 0,
        min_ram=v1.min_ram or 0,
    )
    return Image(**values, properties=_seam_properties(v1.properties))


def v2_to_image(v2: V2Image) -> Image:
    """The seam record of a v2 image; every non-base key is a property."""
    return v2_values_to_image({name: getattr(v2, name) for name in _V2_COPIED_NAMES},
                              v2.properties)


#: The V2Image attributes the seam record does not carry (server-made links, stores).
_V2_NOT_COPIED: tuple[str, ...] = tuple(f.name for f in V2_FIELDS if not f.in_seam)
_V2_COPIED_NAMES: tuple[str, ...] = tuple(f.name for f in _V2_COPIED)


def v2_values_to_image(values: dict[str, Any], properties: FrozenDict[str, str]) -> Image:
    """:func:`v2_to_image` of ``V2Image(**values, properties=properties)``, without building
    that record: the fast v2 read path has the values already.

    ``values`` is a fresh dict (it becomes the record's, changed here) holding the
    table's V2Image attributes by name, already of the types the record converts them to
    (locations may still be the JSON objects: the seam record converts those the same way).
    """
    # Item by item, with the members bound once: a listing runs this for every record.
    pop = values.pop
    for name in _V2_NOT_COPIED:
        pop(name, None)
    status = values["status"]
    if status is None:
        status = _QUEUED
    visibility = values["visibility"]
    if visibility is None:
        visibility = _SHARED
    if status != _ACTIVE:
        values["checksum"] = values["os_hash_algo"] = values["os_hash_value"] = None
    values["status"] = status
    values["is_public"] = visibility == _PUBLIC
    values["visibility"] = visibility
    values["protected"] = bool(values["protected"])
    values["os_hidden"] = bool(values["os_hidden"])
    values["deleted"] = status == _DELETED
    values["size"] = values["size"] or 0
    values["min_disk"] = values["min_disk"] or 0
    values["min_ram"] = values["min_ram"] or 0
    values["locations"] = values["locations"] or ()
    values["tags"] = values["tags"] or ()
    return Image(**values, properties=_seam_properties(properties))


_QUEUED, _ACTIVE, _DELETED = Status.QUEUED, Status.ACTIVE, Status.DELETED
_SHARED, _PUBLIC = Visibility.SHARED, Visibility.PUBLIC


def image_to_v1(image: Image) -> Translated[V1Image]:
    """The v1 form of a seam record, with what v1 cannot say."""
    losses: list[Loss] = []
    if image.visibility not in (Visibility.PUBLIC, Visibility.PRIVATE):
        losses.append(Loss("visibility", f"v1 has only is_public: {image.visibility!s} "
                                         "becomes private"))
    if image.os_hidden:
        losses.append(Loss("os_hidden", "v1 cannot hide an image"))
    if image.tags:
        losses.append(Loss("tags", "v1 has no tags"))
    if image.status not in V1_STATUSES:
        losses.append(Loss("status", f"{image.status!s} is not a v1 status"))
    if image.os_hash_algo is not None or image.os_hash_value is not None:
        losses.append(Loss("os_hash_value", "v1 has no multihash (only the md5 checksum)"))
    if image.locations and [loc.url for loc in image.locations] != [image.direct_url]:
        losses.append(Loss("locations", "v1 carries one location URL"))
    props, prop_losses = encode_properties(image.properties, api="1")
    losses.extend(prop_losses)
    v1 = V1Image(**{key: getattr(image, name) for key, name in _V1_COPIED}, properties=props)
    return Translated(v1, tuple(losses))


def _whole_seconds(value: datetime | None) -> datetime | None:
    return value.replace(microsecond=0) if value is not None and value.microsecond else value


_MULTIHASH_MINOR = BY_NAME["os_hash_value"].v2_min_minor


def v2_record_losses(image: Image, *, minor: int = LATEST_V2_MINOR) -> list[Loss]:
    """What a server of ``2.<minor>`` cannot say of a record's attributes (its properties
    aside: :func:`encode_properties` tells those)."""
    losses: list[Loss] = []
    if image.deleted != (image.status == Status.DELETED):
        losses.append(Loss("deleted", "v2 shows deletion only through status"))
    if image.deleted_at is not None:
        losses.append(Loss("deleted_at", "v2 keeps no deletion time"))
    for name, value in (("created_at", image.created_at), ("updated_at", image.updated_at)):
        if value is not None and value.microsecond:
            losses.append(Loss(name, "v2 times have whole seconds"))
    if minor < _MULTIHASH_MINOR and image.os_hidden:
        losses.append(Loss("os_hidden", f"v2.{minor} has no os_hidden (2.7+)"))
    if minor < _MULTIHASH_MINOR and image.os_hash_value is not None:
        losses.append(Loss("os_hash_value", f"v2.{minor} has no multihash (2.7+)"))
    return losses


def image_to_v2(image: Image, *, minor: int = LATEST_V2_MINOR) -> Translated[V2Image]:
    """The v2 form of a seam record for a server of ``2.<minor>``, with what it cannot say."""
    losses = v2_record_losses(image, minor=minor)
    props, prop_losses = encode_properties(image.properties, api="2")
    losses.extend(prop_losses)
    values: dict[str, Any] = {
        f.name: getattr(image, f.name) if f.v2_min_minor <= minor else None
        for f in _V2_COPIED
    }
    values.update(size=_v2_size(image.status, image.size),
                  created_at=_whole_seconds(image.created_at),
                  updated_at=_whole_seconds(image.updated_at),
                  locations=image.locations or None)
    v2 = V2Image(**values, properties=props)
    return Translated(v2, tuple(losses))


def merge(*parts: Translated[Any]) -> tuple[Loss, ...]:
    """The losses of several translation steps, in order, without repeats."""
    seen: dict[Loss, None] = {}
    for part in parts:
        for loss in part.losses:
            seen.setdefault(loss, None)
    return tuple(seen)

