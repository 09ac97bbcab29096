"""The classic dict form of the seam record, and the public read/write entry points.

``to_seam_dict`` gives exactly the keys of ``seam-contract.md`` (``direct_url`` and
``locations`` only when asked), so code written against the classic seam keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from imgcompat.core import v1, v2
from imgcompat.core.enums import Visibility
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import LATEST_V2_MINOR
from imgcompat.core.immutable import thaw
from imgcompat.core.model import Image, Location, Translated
from imgcompat.core.query import _is_public
from imgcompat.core.scalars import format_v2_time, parse_time
from imgcompat.core.translate import v1_to_image, v2_to_image, v2_values_to_image
from imgcompat.core.v1 import HeaderInput, Headers
from imgcompat.core.v2_fast import Wire
from imgcompat.core.writes import image_to_v1_create_headers, image_to_v2_create

SEAM_KEYS: tuple[str, ...] = (
    "id", "name", "status", "is_public", "visibility", "protected", "deleted", "deleted_at",
    "created_at", "updated_at", "size", "virtual_size", "checksum", "os_hash_algo",
    "os_hash_value", "os_hidden", "disk_format", "container_format", "min_disk", "min_ram",
    "owner", "tags", "properties",
)
LOCATION_KEYS: tuple[str, ...] = ("direct_url", "locations")
_TIMES = ("deleted_at", "created_at", "updated_at")


def to_seam_dict(image: Image, *, include_locations: bool = False) -> dict[str, Any]:
    """The classic seam dict: plain Python values, aware datetimes, thawed properties."""
    out: dict[str, Any] = {}
    keys = SEAM_KEYS + (LOCATION_KEYS if include_locations else ())
    for key in keys:
        value = getattr(image, key)
        if key == "locations":
            value = [{"url": loc.url, "metadata": thaw(loc.metadata)} for loc in value]
        elif key == "tags":
            value = list(value)
        elif key == "properties":
            value = thaw(value)
        elif value is not None and key in ("status", "visibility", "disk_format",
                                           "container_format"):
            value = str(value)
        out[key] = value
    return out


def to_seam_json(image: Image, *, include_locations: bool = False) -> dict[str, Any]:
    """:func:`to_seam_dict` with times as ISO 8601 text (for JSON output)."""
    out = to_seam_dict(image, include_locations=include_locations)
    for key in _TIMES:
        if out[key] is not None:
            out[key] = format_v2_time(out[key])
    return out


def from_seam_dict(data: Mapping[str, Any]) -> Image:
    """A seam record from the classic dict form.

    Unknown keys are refused (nothing is dropped silently). ``is_public`` given as text
    is parsed ("False" is false); given alone, it decides visibility; a visibility of
    shared or community survives ``is_public=False``.
    """
    if not isinstance(data, Mapping):
        raise InvalidRecord(f"a seam record must be a mapping, got {type(data).__name__}")
    try:
        return _from_seam_dict(data)
    except InvalidRecord:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise InvalidRecord(f"not a seam record: {exc}") from exc


def _from_seam_dict(data: Mapping[str, Any]) -> Image:
    unknown = set(data) - set(SEAM_KEYS) - set(LOCATION_KEYS)
    if unknown:
        raise InvalidRecord(f"unknown keys {sorted(unknown)}", field=sorted(unknown)[0])
    values = dict(data)
    flag = _is_public(values.pop("is_public", None))
    vis_raw = values.pop("visibility", None)
    vis = Visibility(str(vis_raw)) if vis_raw is not None else None
    if flag is True:
        vis = Visibility.PUBLIC
    elif flag is False and vis in (None, Visibility.PUBLIC):
        vis = Visibility.PRIVATE
    vis = vis or Visibility.PRIVATE
    for key in _TIMES:
        if isinstance(values.get(key), str):
            values[key] = parse_time(values[key], key)
        elif values.get(key) is not None and not isinstance(values[key], datetime):
            raise InvalidRecord("must be a datetime or ISO 8601 text", field=key)
    if values.get("size") is None:
        values["size"] = 0
    for key in ("min_disk", "min_ram"):
        if values.get(key) is None:
            values[key] = 0
    if "locations" in values:
        values["locations"] = tuple(
            loc if isinstance(loc, Location) else Location(loc["url"], loc.get("metadata"))
            for loc in values["locations"] or ()
        )
    for key in ("protected", "deleted", "os_hidden"):
        if key in values:
            values[key] = bool(_is_public(values[key]))
    return Image(**values, visibility=vis, is_public=vis == Visibility.PUBLIC)


def from_v1_headers(headers: HeaderInput) -> Image:
    """The seam record of a v1 ``HEAD``/``GET`` answer's metadata headers."""
    return v1_to_image(v1.v1_headers_to_v1image(headers))


def to_v1_headers(image: Image) -> Translated[Headers]:
    """The headers of a v1 create for a seam record, with the losses of the trip."""
    return image_to_v1_create_headers(image)


def from_v1_json(doc: Mapping[str, Any]) -> Image:
    """The seam record of a v1 JSON image (``{"image": {...}}`` or the bare object)."""
    return v1_to_image(v1.v1_json_to_v1image(doc))


def from_v1_json_list(doc: Mapping[str, Any]) -> tuple[Image, ...]:
    """The seam records of a v1 list answer."""
    return tuple(v1_to_image(i) for i in v1.v1_json_list_to_v1images(doc))


def from_v2(doc: Mapping[str, Any]) -> Image:
    """The seam record of a v2 image entity."""
    return v2.read_entity(doc, _wire_to_image, v2_to_image)


def from_v2_list(doc: Mapping[str, Any]) -> tuple[Image, ...]:
    """The seam records of a v2 list answer."""
    return v2.read_list(doc, _wire_to_image, v2_to_image)


def _wire_to_image(wire: Wire) -> Image:
    """The seam record of what the fast v2 pass read (no V2Image built on the way)."""
    values, properties = wire
    return v2_values_to_image(values, properties)


def to_v2(image: Image, *, minor: int = LATEST_V2_MINOR) -> Translated[dict[str, Any]]:
    """The body of a v2 create for a seam record, with the losses of the trip."""
    return image_to_v2_create(image, minor=minor)
